"""Shared parts of the off-policy actor-critic methods (DDPG 2016, SAC 2018, and TD3 after them).

  - `replay`: the replay buffer, transitions in preallocated float32 arrays, the oldest overwritten past its
    capacity, with its state for checkpoints (DDPG Algorithm 1 "replay buffer R"; SAC Algorithm 1 "D");
  - `targets`: the soft (Polyak) target update theta' <- tau theta + (1 - tau) theta' (DDPG Algorithm 1; SAC Table 1,
    tau = 0.005), one fused in-place operation over all of a network's tensors;
  - `loop`: the loop's setup (device, seeds, training and evaluation environments, action bounds), the state every
    loop checkpoints, one environment step into the replay buffer, the end of a training episode, the run's tables,
    the evaluation rollout of a deterministic policy (the papers' evaluation: no exploration noise), and the check
    that names the first non-finite loss of an evaluation period's updates;
  - `update`: the update machinery (minibatch draws, one backward pass over the summed losses, every optimizer's
    step, fused Adam, losses left on the device until an evaluation period ends), and the timing of its phases;
  - `speed` (for `repro bench`): environment-only stepping, the learning phase timed inside its run, and the profile
    of one update against the floor of its own matrix products and against the peer's update;
  - `policies` (numpy only, imported on its own): a deterministic actor's action from its saved arrays, for the
    training loop's acting and for saved agents (common/rl/agents.py).

Each paper keeps its algorithm (networks, losses, exploration) readable in its folder and imports these pieces.
"""
from .loop import EvalResult, evaluate, first_nonfinite_loss
from .replay import Replay
from .targets import polyak_update

__all__ = ["EvalResult", "evaluate", "first_nonfinite_loss", "Replay", "polyak_update"]
