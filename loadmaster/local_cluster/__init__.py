"""The local-cluster launcher behind `loadmaster up`, `loadmaster down` and `loadmaster status`.

Every part (etcd, the Kafka-compatible broker, the scheduler, the agents, the gateway) runs as
its own child process, exactly as it would on a server, so a laptop exercises the same code
paths as a fleet. The modules each own one concern: where things live on disk (`layout`), which
ports are used (`ports`), what to run (`commands`), how to spawn and stop processes
(`processes`, `stopping`), how to tell that a part is healthy (`probes`), what was started
(`record`), which cluster admin commands talk to (`current`), and the start-up sequence itself
(`launcher`, `supervisor`). Nothing here imports the scheduler, agent or gateway packages.
"""
