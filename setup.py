"""The compiled modules: probes/snmp/_ber_fast.pyx (the SNMP response decoder) and
probes/_ping_fast.pyx (the bulk ICMP send and receive).

Built by ``pip install`` (``make test`` / ``make demo``) with Cython and the
system C compiler; optional: where it cannot be built, the install still
succeeds and probes.snmp.ber and probes.ping use their pure-Python paths.
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # no Cython (build isolation off, not installed): pure Python
    ext_modules = []
else:
    ext_modules = cythonize(
        [Extension("probes.snmp._ber_fast", ["probes/snmp/_ber_fast.pyx"], optional=True),
         Extension("probes._ping_fast", ["probes/_ping_fast.pyx"], optional=True)],
        language_level=3,
        quiet=True,
    )

setup(ext_modules=ext_modules)
