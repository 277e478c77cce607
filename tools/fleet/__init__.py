"""A fleet: thousands of simulated MFPs against an identity provider and mail servers.

    profile.py      the fleet profile (TOML): stores, accounts, job rates, POP interval, sites
    timeline.py     the events file: power cuts, network outages, revocations, faults
    mfp.py          one MFP of the fleet: the real firmware's `Device`, set up and driven
                    through its command API, its events added up
    shard.py        many devices on one event loop: power, approvals, the office's jobs,
                    virtual-time steps
    network.py      a shard's network: counts each device's identity-provider calls and mail
                    sessions, cuts a site off
    nvram.py        a shard's one SQLite file, each device's records apart
    handles.py      shards in this process or as Ray async actors (Ray imported only there)
    coordinator.py  splits the fleet, plays the timeline, keeps time, merges the samples
    bench_link.py   the bench's control API, from the coordinator and the shards
    metrics.py      mergeable counters and latency histograms
    report.py       report.json and report.html (Jinja2), plots.py its figures (matplotlib)
    command.py      `mfp-sim fleet`

docs/fleet.md explains how to run one, on one machine or a Ray cluster. Errors: errors.py.
"""
