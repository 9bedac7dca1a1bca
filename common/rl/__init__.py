"""What every RL paper shares: environments (MuJoCo, Atari), networks, the numpy MLP and saved agents, and the peer implementations `repro bench` times."""
