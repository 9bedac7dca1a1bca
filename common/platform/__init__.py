"""The platform: configs and schemas, run records, runs, sweeps, Slurm, status, verification, the paper registry,
benchmarks and the `repro` CLI: nothing here is specific to one algorithm family."""
