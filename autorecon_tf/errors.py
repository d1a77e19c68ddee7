"""The error type for mistakes a user can make (paths, model kinds, bit widths, configs).

Library code raises :class:`UserError` with a one-line message that names the
input and the fix; tools turn it into ``error: <message>`` on stderr and exit
status 2, without a traceback (see :mod:`autorecon_tf.cli`).
"""


class UserError(ValueError):
    """A problem with user input, reported as one line and exit status 2."""


class ClusterError(RuntimeError):
    """A multi-worker run that lost a peer (it died or stopped answering), reported as one line and exit status 3.

    Not the user's mistake: relaunching the same command on every worker resumes the job.
    """
