"""The error type for mistakes a user can make (paths, model kinds, bit widths, configs).

Library code raises :class:`UserError` with a one-line message that names the
input and the fix; tools turn it into ``error: <message>`` on stderr and exit
status 2, without a traceback (see :mod:`autorecon_tf.cli`).
"""


class UserError(ValueError):
    """A problem with user input, reported as one line and exit status 2."""
