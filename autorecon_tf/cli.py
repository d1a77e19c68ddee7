"""Shared plumbing for the absl tools in ``tools/``.

Tools stay thin: they define flags, call :func:`run`, and let library code
raise :class:`~autorecon_tf.errors.UserError`. :func:`run` turns a user error,
a bad flag or a config file that does not load into one line on stderr and
exit status 2, with no traceback.
"""

import os
import sys

from absl import app, flags, logging

from autorecon_tf.errors import UserError

EXIT_USER_ERROR = 2


def _one_line(error):
    """A flag error as one line: config files that raise come wrapped with their traceback."""
    text = str(error)
    if "Traceback (most recent call last)" in text:
        head = text.split("Traceback (most recent call last)")[0].strip().rstrip(":")
        last = [line for line in text.splitlines() if line.strip()][-1].strip()
        return f"{head}: {last}"
    return " ".join(text.split())


def _fail(message):
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    # os._exit skips TensorFlow's noisy atexit handlers; nothing is left to flush.
    os._exit(EXIT_USER_ERROR)


def _check_config_flags():
    """ml_collections defers a config file's load error to first use; report it now, in one line."""
    for name in list(flags.FLAGS):
        value = flags.FLAGS[name].value
        error = getattr(value, "_error", None) if type(value).__name__ == "_ErrorConfig" else None
        if error is not None:
            detail = " ".join(str(error).split())
            _fail(f"--{name}: could not load the config file: {detail}")


def _parse_flags(argv):
    try:
        remaining = flags.FLAGS(argv)
        _check_config_flags()
        return remaining
    except flags.Error as error:
        _fail(f"{_one_line(error)} (run with --help for the flags)")
    except (UserError, FileNotFoundError, SyntaxError, ImportError, KeyError, ValueError) as error:
        _fail(f"could not load the config: {error}")
    return None


def run(main):
    """Runs an absl ``main`` so that user errors exit with status 2 and one line."""

    def guarded_main(argv):
        try:
            return main(argv)
        except UserError as error:
            _fail(str(error))
        return None

    app.run(guarded_main, flags_parser=_parse_flags)


def require_config_and_workdir(config, workdir, config_example, workdir_example):
    """Returns ``config`` if both ``--config`` and ``--workdir`` were given, else a one-line UserError."""
    if config is None:
        raise UserError(f"--config is required, e.g. --config {config_example}")
    if not workdir:
        raise UserError(f"--workdir is required, e.g. --workdir {workdir_example}")
    return config


def require_file(path, what, fix):
    """Raises a one-line UserError unless ``path`` is an existing file or directory."""
    if not path:
        raise UserError(f"{what} was not given: {fix}")
    if not os.path.exists(path):
        raise UserError(f"{what} {path!r} does not exist: {fix}")
    return path


def load_config(path, preset):
    """Builds ``get_config(preset)`` of a config file, as ``--config path:preset`` would."""
    import importlib.util

    if not os.path.isfile(path):
        raise UserError(f"config file {path!r} does not exist")
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(preset)


def log_config(config):
    logging.info("config:\n%s", config)
