"""Shared plumbing for the absl tools in ``tools/``.

Tools stay thin: they define flags, call :func:`run`, and let library code
raise :class:`~autorecon_tf.errors.UserError`. :func:`run` turns a user error,
a bad flag (an enum or bounded integer out of range, an unknown ``--config.key``)
or a config file that does not load into one line on stderr and exit status 2,
with no traceback. :func:`load_config` is the one way tests, benchmarks and
config files load a config file outside a flag, with ``--config.key=value``'s
overrides as a dict.
"""

import difflib
import importlib.util
import os
import re
import sys

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags
from ml_collections.config_flags.config_flags import is_config_flag

from autorecon_tf.errors import ClusterError, UserError

EXIT_USER_ERROR = 2
EXIT_CLUSTER_ERROR = 3  # a multi-worker run lost a peer: relaunch every worker to resume
# What a config file that does not load raises, here or in ml_collections (which defers an OSError to first use).
_LOAD_ERRORS = (UserError, OSError, SyntaxError, ImportError, KeyError, ValueError)


def _one_line(error):
    """A flag error as one line: config files that raise come wrapped with their traceback; absl's message for a
    value outside an enum's choices or an integer's bounds is rewritten in this project's words."""
    text = str(error)
    if "Traceback (most recent call last)" in text:
        head = text.split("Traceback (most recent call last)")[0].strip().rstrip(":")
        last = [line for line in text.splitlines() if line.strip()][-1].strip()
        return f"{head}: {last}"
    return _bad_value(error) or " ".join(text.split())


def _bad_value(error):
    """``--name=value`` rejected by an enum or bounded-integer flag: the value and what is allowed, else None."""
    match = re.match(r"flag --([\w.]+)=(.*?): ", str(error))
    if not isinstance(error, flags.IllegalFlagValueError) or match is None or match[1] not in flags.FLAGS:
        return None
    name, value, parser = match[1], match[2], flags.FLAGS[match[1]].parser
    shown = value if re.fullmatch(r"-?\d+", value) else repr(value)
    if isinstance(parser, flags.EnumParser):
        return f"--{name}={shown} is unknown: choose one of {', '.join(parser.enum_values)}"
    bounds = (getattr(parser, "lower_bound", None), getattr(parser, "upper_bound", None))
    if isinstance(parser, flags.IntegerParser) and None not in bounds:
        return f"--{name}={shown} is not supported: give an integer from {bounds[0]} to {bounds[1]}"
    return None


def _fail(message, status=EXIT_USER_ERROR):
    sys.stdout.flush()
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    # os._exit skips TensorFlow's noisy atexit handlers (and a lost cluster's gRPC threads); nothing is left to flush.
    os._exit(status)


def _config_flag_names():
    return [name for name in flags.FLAGS if is_config_flag(flags.FLAGS[name])]


def _config_argument(argv, name):
    """The value of ``--name`` in ``argv``, else the file of the flag's default, else None."""
    scratch = flags.FlagValues()
    flags.DEFINE_string(name, None, "", flag_values=scratch)
    scratch(argv, known_only=True)  # this flag alone; the others are left alone
    if scratch[name].value:
        return scratch[name].value
    try:
        return config_flags.get_config_filename(flags.FLAGS[name])
    except flags.Error:  # ml_collections' UnparsedFlagError: no default file
        return None


def _check_overrides(argv):
    """Loads each config file given ``--name.key=value`` overrides and checks the keys before ml_collections does:
    its reply to an unknown key is an AttributeError with a traceback."""
    for name in _config_flag_names():
        pattern = rf"--?(no)?{re.escape(name)}\.([^=]+)"
        keys = [match[2] for match in (re.match(pattern, arg) for arg in argv) if match]
        if not keys:
            continue
        argument = _config_argument(argv, name)
        if argument is None:
            _fail(f"--{name}.{keys[0]} needs --{name}, e.g. --{name}=configs/<file>.py:<preset>")
        path, _, preset = argument.partition(":")
        try:
            config = load_config(path, preset or None)
        except _LOAD_ERRORS as error:
            _fail(f"--{name}: could not load the config file: {' '.join(str(error).split())}")
        message = unknown_key(config, keys, path, flag=name)
        if message:
            _fail(message)


def _check_config_flags():
    """ml_collections defers a config file's load error to the config's first use (an OSError): force it now."""
    for name in _config_flag_names():
        value = flags.FLAGS[name].value
        try:
            if value is not None:
                value.keys()
        except OSError as error:
            detail = " ".join(str(error.__cause__ or error).split())
            _fail(f"--{name}: could not load the config file: {detail}")


def _parse_flags(argv):
    try:
        _check_overrides(argv)
        remaining = flags.FLAGS(argv)
        _check_config_flags()
        return remaining
    except flags.Error as error:
        _fail(f"{_one_line(error)} (run with --help for the flags)")
    except _LOAD_ERRORS as error:
        _fail(f"could not load the config: {error}")
    return None


def quiet_logging():
    """absl's INFO lines (ours and TensorFlow's) off unless logs were asked for (``--verbosity`` or
    ``AUTORECON_TF_VERBOSE=1``, see ``compat.py``): a default run prints only the tool's own lines."""
    from autorecon_tf.compat import QUIET  # one answer to "are logs wanted": --verbosity or AUTORECON_TF_VERBOSE

    if QUIET:
        logging.set_verbosity(logging.WARNING)


def run(main):
    """Runs an absl ``main`` so that user errors exit with status 2 and one line (a lost worker: status 3)."""

    def guarded_main(argv):
        quiet_logging()
        try:
            return main(argv)
        except UserError as error:
            _fail(str(error))
        except ClusterError as error:
            _fail(str(error), EXIT_CLUSTER_ERROR)
        return None

    app.run(guarded_main, flags_parser=_parse_flags)


def define_input_space_flags():
    """The ``--input_range`` / ``--input_mean`` / ``--input_std`` flags of a tool that loads a teacher."""
    return (
        flags.DEFINE_string(
            "input_range", None, "lo,hi: the pixels the model takes (e.g. 0,255), for a model without teacher.json."
        ),
        flags.DEFINE_string("input_mean", None, "The model takes (pixels - mean) / std: mean (one, or per channel)."),
        flags.DEFINE_string("input_std", None, "std of --input_mean (one value, or per channel)."),
    )


def input_space_args(holders):
    """``load_teacher``'s keywords from :func:`define_input_space_flags`' holders."""
    return dict(zip(("input_range", "input_mean", "input_std"), (holder.value for holder in holders)))


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


def load_config(path, preset=None, overrides=None):
    """``get_config(preset)`` of a config file with ``overrides`` ({dotted key: value}) applied, as
    ``--config path:preset --config.key=value`` would (``preset=None``: the file's default); unlocked."""
    if not os.path.isfile(path):
        raise UserError(f"config file {path!r} does not exist")
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config() if preset is None else module.get_config(preset)
    if overrides:
        message = unknown_key(config, overrides, path)
        if message:
            raise UserError(message)
        config.update_from_flattened_dict(dict(overrides))
    return config


def config_keys(config, prefix=""):
    """Every dotted key of a ConfigDict, sections included (``generator``, ``generator.latent_dim``, ...)."""
    keys = []
    for key, value in config.items():
        keys.append(prefix + key)
        if isinstance(value, ml_collections.ConfigDict):  # FrozenConfigDict is one too
            keys += config_keys(value, f"{prefix}{key}.")
    return keys


def unknown_key(config, keys, path, flag=None):
    """A one-line message naming the first of ``keys`` that ``config`` lacks and the closest valid keys, or None."""
    valid = config_keys(config)
    for key in keys:
        if re.sub(r"\[\d+\]", "", key) not in valid:
            named = f"--{flag}.{key}" if flag else repr(key)
            close = difflib.get_close_matches(key, valid, n=3, cutoff=0)  # cutoff 0: always the 3 closest
            return f"{named} is not a key of the config {path}; the closest keys: {', '.join(close)}"
    return None


def log_config(config):
    logging.info("config:\n%s", config)
