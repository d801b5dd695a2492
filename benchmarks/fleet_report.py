"""The fleet benchmark's figures as printed: Swarm's against the bare plumbing of the same run (benchmarks/fleet.py
measures them)."""

from __future__ import annotations

import json


def ratios(out: dict) -> dict:
    """Swarm's figures against the bare plumbing of the same run."""
    window, bare = out["case"]["window"], out["bare"]
    app_cpu = sum(seconds for name, seconds in out["cpu"].items() if name in out["idle_mb"])
    calls = out["calls_per_s"] * window
    step_ms = app_cpu / calls * 1000 if calls else None
    worker = out["idle_mb"].get("worker")
    like = like_for_like(out)
    return {
        "app_cpu_s": app_cpu,
        "step_cpu_ms": step_ms,
        "step_x": step_ms / bare["call_ms"] if step_ms else None,
        "step_x_streamed": step_ms / bare["streamed_ms"] if step_ms else None,
        "like_ms": like,
        "step_x_like": step_ms / like if step_ms else None,
        "web_idle_x": out["idle_mb"]["web"] / bare["daphne_mb"],
        "worker_idle_x": worker / bare["celery_mb"] if worker else None,
        "web_idle_pss_x": out["idle_pss_mb"]["web"] / bare["daphne_pss_mb"],
        "worker_idle_pss_x": out["idle_pss_mb"]["worker"] / bare["celery_pss_mb"] if worker else None,
    }


def like_for_like(out: dict) -> float:
    """The bare call a Swarm step makes, in CPU: a real model's reply streams only while somebody watches the agent's
    page (SWARM_LLM_STREAM=watched, the default), so the share of agents the benchmark's page viewers watch streams;
    the simulator never streams."""
    case, bare = out["case"], out["bare"]
    if case["model"] != "server":
        return bare["call_ms"]
    watched = min(case["watchers"], case["agents"]) / case["agents"]
    return watched * bare["streamed_ms"] + (1 - watched) * bare["call_ms"]


HEADER = (
    "mode        model  agents  lat  win |  calls/s  ideal share | wait p50   p99 | stale p99 | detail ms p50   p99"
    " | lost dup | step CPU ms  bare      x streamed     x like     x | idle web MB bare    x | worker MB bare    x"
)


def _f(value, spec: str, width: int) -> str:
    return f"{value:{spec}}".rjust(width) if value is not None else "-".rjust(width)


def row(out: dict) -> str:
    case, bare, r = out["case"], out["bare"], out["ratios"]
    ms = 1000
    share = out["calls_per_s"] / out["ideal_per_s"]
    return (
        f"{case['mode']:<11} {case['model']:<6} {case['agents']:>6} {case['latency']:>4g} {case['window']:>4g} |"
        f" {out['calls_per_s']:>8.2f} {out['ideal_per_s']:>6.2f} {share:>5.0%} |"
        f" {_f(out['wait_p50'], '.2f', 8)} {_f(out['wait_p99'], '.2f', 5)} | {_f(out['stale_p99'], '.2f', 9)} |"
        f" {_f(out['detail_p50'] and out['detail_p50'] * ms, '.0f', 13)} {_f(out['detail_p99'] and out['detail_p99'] * ms, '.0f', 5)} |"
        f" {out['lost']:>4} {out['duplicated']:>3} | {_f(r['step_cpu_ms'], '.1f', 11)} {bare['call_ms']:>5.1f}"
        f" {_f(r['step_x'], '.1f', 5)}x {bare['streamed_ms']:>8.1f} {_f(r['step_x_streamed'], '.1f', 5)}x"
        f" {r['like_ms']:>4.1f} {_f(r['step_x_like'], '.1f', 5)}x |"
        f" {out['idle_mb']['web']:>11.0f} {bare['daphne_mb']:>4.0f} {r['web_idle_x']:>4.1f}x |"
        f" {_f(out['idle_mb'].get('worker'), '.0f', 9)} {_f(bare.get('celery_mb'), '.0f', 4)} {_f(r['worker_idle_x'], '.1f', 4)}{'x' if r['worker_idle_x'] else ' '}"
    )


def details(out: dict) -> list[str]:
    case, window = out["case"], out["case"]["window"]
    lines = [
        f"  launch answered in {out['launch_s']:.2f} s; every worktree made {out['prepared_s']:.1f} s after it;"
        f" first model call {_f(out['first_call_s'], '.2f', 0)} s after"
        f" it, the last agent's first {_f(out['last_first_call_s'], '.2f', 0)} s; never called: {out['never_called']}",
        f"  calls started in the window: {out['calls']}; stale p50 {_f(out['stale_p50'], '.2f', 0)} s;"
        f" detail events timed {out['detail_events']}; overview frames {out['overview_frames']};"
        f" reconnects {out['reconnects']}; machine load average {out['load_average']:.1f}",
        f"  raw data: {out['raw']}",
    ]
    for name, seconds in out["cpu"].items():
        memory = ""
        if name in out["peak_mb"]:
            memory = f", peak RSS {out['peak_mb'][name]:.0f} MB"
        if name in out["idle_mb"]:
            memory += f" (idle {out['idle_mb'][name]:.0f} MB)"
        lines.append(f"  {name}: CPU {seconds:.1f} s in the window ({seconds / window:.0%} of a core){memory}")
    r, bare = out["ratios"], out["bare"]
    pss = out["idle_pss_mb"]
    lines.append(
        f"  idle PSS (shared pages counted once): web {pss['web']:.0f} MB against bare daphne's"
        f" {bare['daphne_pss_mb']:.0f} ({r['web_idle_pss_x']:.1f}x)"
        + (
            f"; worker {pss['worker']:.0f} MB against bare celery's {bare['celery_pss_mb']:.0f}"
            f" ({r['worker_idle_pss_x']:.1f}x)"
            if "worker" in pss
            else ""
        )
    )
    lines.append(
        f"  bare litellm acompletion: {bare['call_ms']:.1f} ms CPU a call, {bare['streamed_ms']:.1f} ms streamed;"
        f" Swarm's step is {_f(r['step_x'], '.1f', 0)}x the plain call, {_f(r['step_x_streamed'], '.1f', 0)}x the"
        f" streamed one, {_f(r['step_x_like'], '.1f', 0)}x like for like ({r['like_ms']:.1f} ms)"
    )
    lines.append(
        "  like for like: "
        + (
            f"the calls Swarm makes: streamed for the {min(case['watchers'], case['agents'])} agent(s) whose page is"
            " watched, plain for the rest (SWARM_LLM_STREAM=watched, the default; true streams every reply)"
            if case["model"] == "server"
            else "the plain call (the simulator never streams)"
        )
    )
    return lines


def report(out: dict, say=print, header: bool = True) -> None:
    out["ratios"] = ratios(out)
    if header:
        say(HEADER)
    say(row(out))
    for line in details(out):
        say(line)
    say("fleet-json " + json.dumps(out, default=str))
