"""`repro bench --profile`: the FLOPs it reports equal hand-counted matrix products, and it saves what it measured."""
import json

import pytest

from common.platform.bench import format_profile, run_profile
from common.platform.errors import ReproError
from common.rl import peers


def linear_flops(batch: int, n_in: int, n_out: int) -> int:
    return 2 * batch * n_in * n_out  # one multiply and one add per weight per sample


def test_sac_v2_update_flops_match_hand_count(results_root):
    b, h, o, a = 8, 16, 11, 3  # Hopper: 11 observations, 3 actions
    r = run_profile("haarnoja2018_sac", "fig1_hopper", "v2", overrides={"batch_size": b, "hidden_units": h})
    actor = [linear_flops(b, o, h), linear_flops(b, h, h), linear_flops(b, h, 2 * a)]  # mean and log std
    q = [2 * linear_flops(b, o + a, h), 2 * linear_flops(b, h, h), 2 * linear_flops(b, h, 1)]  # both critics
    expected = (sum(actor)              # policy on s
                + sum(actor)            # policy on s' (the target's next action)
                + sum(actor)            # policy backward: weight gradients of every layer
                + sum(actor[1:])        # ... and input gradients above the first layer
                + 2 * sum(q)            # critics on (s, a~), forward and input gradients (weights detached)
                + sum(q)                # target critics on (s', a')
                + 2 * sum(q)            # critics on (s, a): forward and weight gradients
                + sum(q[1:]))           # ... and input gradients above the first layer
    assert r["measures"]["update_mflop"] * 1e6 == pytest.approx(expected, rel=1e-12)
    assert r["measures"]["update_ms_float32"] > 0 and r["measures"]["matmul_floor_ms_float32"] > 0
    assert 0 < sum(v for k, v in r["measures"].items() if k.startswith("time_share")) <= 1
    m = r["measures"]
    assert m["matmul_floor_same_shapes_ms_float32"] > 0 and m["floor_share_reached_float32"] > 0
    assert all(m[f"phase_ms_{k}"] > 0 for k in ("forward", "backward", "optimizer", "env_step", "policy_act",
                                                "replay_sample"))
    if peers.available():  # stable-baselines3's update, same sizes: the critics' weight gradients in the actor's
        # pass too (their input-gradient-only pass here), so more arithmetic than this update
        assert m["peer_update_mflop"] > m["update_mflop"] and m["peer_update_ms_float32"] > 0
    saved = json.loads((results_root / "haarnoja2018_sac" / "profile.json").read_text())
    assert saved["fig1_hopper/v2 batch_size=8 hidden_units=16"]["measures"] == r["measures"]


def test_dqn_2013_update_flops_match_hand_count(results_root):
    b = 2
    r = run_profile("mnih2013_dqn", "table1", "Breakout", overrides={"batch_size": b, "torch_threads": 1})
    conv1 = 2 * b * 16 * 20 * 20 * (4 * 8 * 8)   # 16 8x8 stride-4 filters: 84x84 -> 20x20
    conv2 = 2 * b * 32 * 9 * 9 * (16 * 4 * 4)    # 32 4x4 stride-2 filters: 20x20 -> 9x9
    fc, out = linear_flops(b, 32 * 9 * 9, 256), linear_flops(b, 256, 4)
    forward = conv1 + conv2 + fc + out
    # the target's forward on s' (the online network itself in 2013), the online forward on s, its weight gradients,
    # and its input gradients above the first layer (the frames need none)
    expected = forward + forward + forward + (forward - conv1)
    m = r["measures"]
    assert m["update_gflop"] * 1e9 == pytest.approx(expected, rel=1e-12)
    # the floor: the same convolutions (forward, input and weight gradients) and matrix products, run bare
    assert m["matmul_floor_same_shapes_gflop"] * 1e9 == pytest.approx(expected, rel=1e-12)
    assert m["matmul_floor_same_shapes_ms_float32"] > 0 and m["floor_share_reached_float32"] > 0
    assert all(m[f"phase_ms_{k}"] > 0 for k in ("forward", "backward", "optimizer"))
    assert all(m[f"speedup_{k}"] > 0 for k in ("bfloat16_autocast", "channels_last", "mkldnn_off"))
    shown = "\n".join(format_profile(r))
    wanted = ["update_ms_float32", "matmul_floor_same_shapes_ms_float32", "floor_share_reached_float32"]
    if peers.available():  # stable-baselines3's update on the same network and batch, timed in the same rounds
        assert m["peer_update_mflop"] * 1e6 >= expected and m["peer_update_ms_float32"] > 0
        wanted += ["peer_update_ms_float32", "update_ratio_to_peer", "max_update_ratio_to_peer_at_floor"]
    assert all(name in shown for name in wanted)
    saved = json.loads((results_root / "mnih2013_dqn" / "profile.json").read_text())
    assert saved["table1/Breakout batch_size=2 torch_threads=1"]["measures"] == m


def test_profile_where_there_is_none_says_so_and_writes_nothing(results_root):
    with pytest.raises(ReproError, match=r"no profile for schulman2016_gae/fig2_cartpole; experiments with one: "
                                         r"\(none\)"):
        run_profile("schulman2016_gae", "fig2_cartpole", None)
    assert not results_root.exists()


def test_ddpg_profile_takes_an_update_apart(results_root):
    r = run_profile("lillicrap2016_ddpg", "td3_table1", "our_ddpg__Hopper-v5",
                    overrides={"batch_size": 8, "hidden_units": [16, 12]})
    m = r["measures"]
    assert m["update_ms_float32"] > 0 and m["matmul_floor_same_shapes_ms_float32"] > 0
    assert all(m[f"phase_ms_{k}"] > 0 for k in ("forward", "backward", "optimizer", "target_average", "env_step"))
    if peers.available():  # stable-baselines3 also computes the critic's weight gradients in the actor's pass
        assert m["peer_update_mflop"] > m["update_mflop"]


def test_ppo_profile_takes_an_iteration_apart(results_root):
    """The phases of PPO's iterations as the real loop runs them: each timed, adding up to the iteration, with
    shares and ceilings that follow from them; saved where `repro report` renders it."""
    horizon = 256
    r = run_profile("schulman2017_ppo", "table1", "clip0.2__Hopper-v5",
                    overrides={"horizon": horizon, "minibatch_size": 64, "epochs": 2})
    m = r["measures"]
    phases = ("environment", "acting_network", "acting_noise", "filter", "rollout_other", "gae", "gradients", "adam",
              "learning_other")
    assert all(m[f"ms_per_iteration_{k}"] > 0 for k in phases if k != "learning_other")
    assert sum(m[f"ms_per_iteration_{k}"] for k in phases) == pytest.approx(m["ms_per_iteration_total"])
    assert sum(m[f"share_{k}"] for k in phases) == pytest.approx(1.0)
    assert m["env_steps_per_s_timed"] == pytest.approx(horizon / (m["ms_per_iteration_total"] * 1e-3))
    assert m["env_steps_per_s_untimed"] > 0 and 0 <= m["other_processes_share_of_machine"] <= 1
    env_filter = m["ms_per_iteration_environment"] + m["ms_per_iteration_filter"]
    assert m["ratio_to_environment_only_implied"] == pytest.approx(env_filter / m["ms_per_iteration_total"])
    assert m["ratio_to_environment_only_implied"] < m["ratio_to_environment_only_if_learning_were_free"] < 1
    assert m["us_per_env_step_environment"] == pytest.approx(1e3 * m["ms_per_iteration_environment"] / horizon)
    saved = json.loads((results_root / "schulman2017_ppo" / "profile.json").read_text())
    key = f"table1/clip0.2__Hopper-v5 epochs=2 horizon={horizon} minibatch_size=64"
    assert saved[key]["measures"] == m
    assert saved[key]["measure_order"][:len(phases)] == [f"ms_per_iteration_{k}" for k in phases]  # loop order


def test_profile_json_of_every_kind_renders(results_root):
    """The regenerated README's profile table shows an update profile (SAC-like) and PPO's iteration profile."""
    from common.analysis.report import _profile_markdown

    out = results_root / "p"
    out.mkdir(parents=True)
    context = {"machine": {"cpu": "x", "cpu_count": 2}, "git": {"commit": "abc"}, "when": "now"}
    (out / "profile.json").write_text(json.dumps({
        "fig1/v2": {"note": "SAC update", "measures": {"update_ms_float32": 20.5}, **context},
        "table1/clip0.2__Hopper-v5": {"note": "PPO iteration", "measures": {"ms_per_iteration_total": 260.0,
                                                                            "share_environment": 0.365},
                                      "measure_order": ["share_environment", "ms_per_iteration_total"], **context}}))
    text = _profile_markdown(out)
    assert "| update_ms_float32 | 20.500 |" in text  # an entry without an order: as stored
    assert text.index("| share_environment | 0.365 |") < text.index("| ms_per_iteration_total | 260.000 |")
