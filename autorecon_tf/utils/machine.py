"""The machine a record was measured on, read without TensorFlow (so the grid harness can stamp its records too)."""

import platform


def _cpuinfo():
    """The first processor's ``model name``, ``cpu family``, ``model`` and ``flags`` from /proc/cpuinfo ({} if none)."""
    facts = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model", "flags") and key not in facts:
                    facts[key] = value.strip()
                if not line.strip() and facts:
                    break
    except OSError:
        pass
    return facts


def cpu_flags():
    """The CPU's feature flags (``/proc/cpuinfo``: ``avx2``, ``avx512f``, ...); empty where it cannot be read."""
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_model():
    """The CPU's model name (``/proc/cpuinfo``) with its family, model and AMX/AVX-512 flags.

    Virtual machines report generic names ("AMD EPYC", "Intel(R) Xeon(R) Processor") for
    CPUs of different speed; the family/model numbers and flags tell them apart.
    """
    facts = _cpuinfo()
    if "model name" not in facts:
        return platform.processor() or platform.machine()
    flags = set(facts.get("flags", "").split())
    features = [name for name in ("avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if name in flags]
    extra = f"family {facts.get('cpu family', '?')} model {facts.get('model', '?')}"
    return f"{facts['model name']} ({extra}; {' '.join(features) or 'no AVX-512'})"
