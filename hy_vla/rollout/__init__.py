"""Running policies in simulators: one episode (`episode.run_episode`), worker processes that each hold an
environment and a policy (`workers`), picklable policy factories for them (`factories`) and episode videos.
Shared by evaluation (`hy_vla.eval`) and demonstration collection (`hy_vla.sim.collect`)."""
