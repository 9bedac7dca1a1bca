"""What every RL paper shares: environments (MuJoCo, Atari), networks, the numpy MLP and saved agents,
derivative-free policy search (CEM and CMA-ES, `derivative_free`), and the peer implementations `repro bench` times."""
