"""`execbox bench`: what each isolation layer costs, measured against a bare process.

One run interleaves every level (a bare process, the layers added one at a time, the
full cold sandbox, the warm pool, the HTTP service, and the peers a user would otherwise
pick: bubblewrap, unshare + a cgroup) so that the machine's drift hits them all alike;
ratios to the bare baseline of the same run are the figures to compare.

Modules: ``machine`` (what machine this is), ``measure`` (interleaving, percentiles,
throughput), ``programs`` (the hello worlds), ``ladder`` + ``forker`` (the partial
levels, composed from the sandbox's layer modules in a small helper process),
``levels`` (every level as one callable per program), ``peers`` (bubblewrap, unshare,
gVisor), ``server`` (a live HTTP service), ``memory``, ``suite`` (the whole run),
``report`` (tables, targets), ``chart`` (PNG and HTML).
"""
