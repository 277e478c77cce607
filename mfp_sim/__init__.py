"""mfp-sim, as installed: the simulator's packages under one name of its own.

The repository keeps its layers as top-level folders (firmware/, hwsim/, panel/, tools/);
this package holds links to them so that `pip install mfp-sim` adds only `mfp_sim` to an
environment (a QA engineer's project may well have a `tools` package of its own). Code
imports `mfp_sim.firmware`, `mfp_sim.hwsim`, `mfp_sim.panel` and `mfp_sim.tools`.
"""
