"""The workspace's learning page in Chromium, against a real ``tandem serve`` whose embedded
learning store the test seeds with runs, models and a pointer, as ``tandem finetune`` would
(a second process writing the same SQLite file, which WAL mode allows)."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.async_api import Dialog, Locator, expect

from learning.sqlite_store import SqliteLearningStore
from tests.accounts import members
from tests.server_proc import TandemProcess
from tests.web.browser import SCREENSHOTS, Tab, sign_in
from tests.web.conftest import OpenTab
from tests.web.test_contrast import low_contrast, report

TRAIN_LOSS = [
    {"step": s, "loss": round(2.4 * 0.93**s + 0.35, 4), "epoch": round(s / 12, 3)}
    for s in range(1, 37)
]
EVAL_LOSS = [
    {"step": s, "loss": round(2.3 * 0.94**s + 0.5, 4), "epoch": s / 12} for s in (12, 24, 36)
]
REJECTED_LOSS = [{"step": s, "loss": 1.9 - 0.05 * s, "epoch": 1.0} for s in range(1, 9)]
PROMOTED_REASON = (
    "the candidate scored 0.812 against the current model's 0.640 on 24 held-out examples"
)
REJECTED_REASON = (
    "the candidate scored 0.598 against the current model's 0.640 on 20 held-out examples: "
    "not better (plus a margin of 0.01)"
)


def learning_hash(ws: str) -> str:
    return f"#/w/{ws}/learning"


async def seed(
    server: TandemProcess, runs: list[dict[str, Any]], models: list[str], history: list[str]
) -> None:
    now = time.time()
    async with SqliteLearningStore(server.data_dir / "learning.db") as store:
        for run in runs:
            assert await store.claim_run({"workspace_id": run["workspace_id"], "day": run["day"]})
            await store.save_run(run)
        for n, model_id in enumerate(models):
            ws, day = model_id.split("/")
            await store.add_model(
                {
                    "workspace_id": ws,
                    "model_id": model_id,
                    "run_day": day,
                    "trainer": "local",
                    "base_model": "tandem/tiny-base",
                    "base_revision": "3f9c2a1b7d0e4f5a6b7c8d9e",
                    "created_at": now - 86400 * (len(models) - n),
                }
            )
        if history:
            await store.save_pointer(
                {"workspace_id": history[0].split("/")[0], "history": history, "updated_at": now}
            )


def two_runs(ws: str) -> list[dict[str, Any]]:
    now = time.time()
    return [
        {
            "workspace_id": ws,
            "day": "2026-12-05",
            "state": "rejected",
            "trainer": "local",
            "attempts": 1,
            "new_examples": 31,
            "examples": {"train": 160, "validation": 20},
            "loss": REJECTED_LOSS,
            "scores": {
                "candidate": {
                    "model": f"{ws}/2026-12-05",
                    "mean": 0.598,
                    "valid": 0.95,
                    "count": 20,
                    "errors": 0,
                },
                "current": {
                    "model": f"{ws}/2026-12-04",
                    "mean": 0.64,
                    "valid": 1.0,
                    "count": 20,
                    "errors": 0,
                },
            },
            "reason": REJECTED_REASON,
            "model_id": f"{ws}/2026-12-05",
            "started_at": now - 2 * 86400,
            "updated_at": now - 2 * 86400 + 900,
        },
        {
            "workspace_id": ws,
            "day": "2026-12-06",
            "state": "promoted",
            "trainer": "local",
            "attempts": 2,
            "new_examples": 48,
            "examples": {"train": 212, "validation": 24},
            "loss": TRAIN_LOSS,
            "eval_loss": EVAL_LOSS,
            "scores": {
                "candidate": {
                    "model": f"{ws}/2026-12-06",
                    "mean": 0.812,
                    "valid": 1.0,
                    "count": 24,
                    "errors": 0,
                },
                "current": {
                    "model": f"{ws}/2026-12-04",
                    "mean": 0.64,
                    "valid": 0.9583,
                    "count": 24,
                    "errors": 1,
                },
            },
            "reason": PROMOTED_REASON,
            "model_id": f"{ws}/2026-12-06",
            "started_at": now - 86400,
            "updated_at": now - 86400 + 1200,
        },
    ]


def run_item(tab: Tab, day: str) -> Locator:
    return tab.page.locator(f'.run[data-day="{day}"]')


async def accept_next_dialog(tab: Tab, expected: str) -> None:
    async def accept(dialog: Dialog) -> None:
        assert expected in dialog.message, dialog.message
        await dialog.accept()

    tab.page.once("dialog", accept)


async def test_owner_sees_runs_and_rolls_back_viewer_only_reads(
    server: TandemProcess, tabs: OpenTab
) -> None:
    owner, viewer, ws = await members(
        server.http_url, "lena-learn", "vik-learn", "viewer", "Learning team"
    )
    older, promoted = f"{ws}/2026-12-04", f"{ws}/2026-12-06"
    await seed(server, two_runs(ws), [older, f"{ws}/2026-12-05", promoted], [older, promoted])

    # The viewer reads everything while a model is in use, and can change nothing.
    v = await tabs()
    await sign_in(v, server.http_url, viewer, learning_hash(ws))
    await expect(v.page.locator(".run")).to_have_count(2)
    await expect(v.page.locator(".current-model")).to_have_text(promoted)
    await expect(v.page.locator(".learning-training")).to_contain_text("Training is on")
    await expect(v.page.locator(".learning-training")).to_contain_text(
        "Only owners can change this."
    )
    assert await v.page.get_by_role("switch").count() == 0
    assert await v.page.get_by_role("button", name=re.compile("Roll back")).count() == 0
    failures = await low_contrast(v, "learning, viewer", expect_at_least=30)

    # The owner reaches the page from the workspace.
    o = await tabs()
    o.allowed.append(re.compile(r"status of 409"))  # the stale rollback below, on purpose
    await sign_in(o, server.http_url, owner, f"#/w/{ws}")
    await o.page.get_by_role("link", name="Learning: training runs and models").click()
    await expect(o.page.get_by_role("heading", name="Learning", exact=True)).to_be_visible()
    await expect(o.page).to_have_title("Learning · Learning team · Tandem")
    await expect(o.page.locator(".run")).to_have_count(2)
    assert await o.page.locator(".run").evaluate_all(
        "(runs) => runs.map((r) => r.dataset.day)"
    ) == [
        "2026-12-06",
        "2026-12-05",
    ]
    newest, rejected = run_item(o, "2026-12-06"), run_item(o, "2026-12-05")
    await expect(newest.locator(".run-state")).to_have_text("promoted")
    await expect(rejected.locator(".run-state")).to_have_text("rejected")
    await expect(newest.locator(".badge.in-use")).to_be_visible()
    await expect(newest.locator(".facts")).to_contain_text("212 train · 24 validation")
    await expect(newest.locator(".facts")).to_contain_text("48")

    # One polyline vertex per logged step, and a chart named and described in words.
    line = newest.locator("polyline.loss-line.train")
    points = (await line.get_attribute("points") or "").split()
    assert len(points) == len(TRAIN_LOSS), points
    eval_points = (
        await newest.locator("polyline.loss-line.eval").get_attribute("points") or ""
    ).split()
    assert len(eval_points) == len(EVAL_LOSS)
    rejected_points = (
        await rejected.locator("polyline.loss-line.train").get_attribute("points") or ""
    ).split()
    assert len(rejected_points) == len(REJECTED_LOSS)
    chart = newest.get_by_role("img", name=re.compile("Loss curve of the run on 2026-12-06"))
    await expect(chart).to_be_visible()
    await expect(chart.locator("desc")).to_contain_text("(36 points)")
    await expect(chart.locator("text.axis-label")).to_have_text(["step", "loss"])

    # Candidate and current side by side, then the verdict with its reason.
    scores = newest.locator("table.scores")
    await expect(scores.locator("thead th")).to_have_text(["Measure", "Candidate", "Current"])
    mean = scores.locator("tbody tr", has_text="Mean score")
    await expect(mean.locator("td")).to_have_text(["0.812", "0.640"])
    await expect(scores.locator("tbody tr", has_text="Valid format").locator("td")).to_have_text(
        ["100%", "96%"]
    )
    await expect(newest.locator(".outcome")).to_have_text(f"Promoted: {PROMOTED_REASON}")
    await expect(rejected.locator(".outcome")).to_have_text(f"Not promoted: {REJECTED_REASON}")
    await expect(
        rejected.locator("table.scores tbody tr", has_text="Mean score").locator("td")
    ).to_have_text(["0.598", "0.640"])
    failures += await low_contrast(o, "learning, owner", expect_at_least=30)
    assert not failures, report(failures)
    SCREENSHOTS.mkdir(exist_ok=True)
    await o.page.screenshot(path=str(SCREENSHOTS / "learning-page.png"), full_page=True)

    # The switch works from the keyboard and saves the workspace's setting.
    switch = o.page.get_by_role("switch", name="Train this workspace’s model")
    await expect(switch).to_be_checked()
    await switch.focus()
    await o.page.keyboard.press("Space")
    await expect(o.page.locator(".notice.info")).to_contain_text("Training is off")
    await expect(switch).not_to_be_checked()
    settings = await owner.request("GET", f"/api/workspaces/{ws}", expect=200)
    assert settings.json()["allow_training"] is False

    # Rollback, confirmed, from the keyboard: the previous model is current again.
    rollback = o.page.get_by_role("button", name=f"Roll back to {older}")
    await accept_next_dialog(o, f"Roll back from {promoted} to {older}?")
    await rollback.focus()
    await o.page.keyboard.press("Enter")
    await expect(o.page.locator(".current-model")).to_have_text(older)
    await expect(o.page.locator(".notice.info")).to_contain_text(f"the assistant now uses {older}")
    await expect(newest.locator(".badge.in-use")).to_have_count(0)
    status = await owner.request("GET", f"/api/workspaces/{ws}/learning", expect=200)
    assert (status.json()["current"], status.json()["rollback_to"]) == (older, None)
    next_rollback = o.page.get_by_role("button", name="Roll back to the base model")
    await expect(next_rollback).to_be_focused()

    # Someone else rolled back meanwhile: the server's 409 is shown, and the page catches up.
    await owner.request("POST", f"/api/workspaces/{ws}/learning/rollback", expect=200)
    await accept_next_dialog(o, "to the base model?")
    await next_rollback.click()
    await expect(o.page.locator(".notice.error")).to_contain_text("no promoted model to roll back")
    await expect(o.page.locator(".current-model")).to_contain_text("base model")
    await expect(o.page.get_by_role("button", name=re.compile("Roll back"))).to_have_count(0)


async def test_a_training_run_shows_its_progress_and_sparse_runs_still_render(
    server: TandemProcess, tabs: OpenTab
) -> None:
    owner, _, ws = await members(
        server.http_url, "tess-learn", "uri-learn", "editor", "Training now"
    )
    runs = [
        {
            "workspace_id": ws,
            "day": "2026-12-07",
            "state": "training",
            "trainer": "openai-jobs",
            "examples": {"train": 90, "validation": 10},
            "loss": [
                {"step": 1, "loss": 2.1},
                {"step": 2, "loss": 1.7},
                {"step": 3, "loss": "n/a"},
            ],
            "progress": {
                "step": 12,
                "total_steps": 40,
                "loss": 0.9132,
                "tokens_per_s": 1234.5,
                "eta_s": 200,
            },
        },
        {
            "workspace_id": ws,
            "day": "2026-12-06",
            "state": "skipped",
            "new_examples": 3,
            "reason": "too few new examples",
        },
        {
            "workspace_id": ws,
            "day": "2026-12-05",
            "state": "failed",
            "error": "trainer ran out of memory",
        },
        {"workspace_id": ws, "day": "2026-12-04"},
    ]
    await seed(server, runs, [], [])
    t = await tabs()
    await sign_in(t, server.http_url, owner, learning_hash(ws))
    await expect(t.page.locator(".run")).to_have_count(4)
    await expect(t.page.locator(".current-model")).to_contain_text("base model")
    await expect(t.page.get_by_role("button", name=re.compile("Roll back"))).to_have_count(0)

    training = run_item(t, "2026-12-07")
    await expect(training.locator(".run-state")).to_have_text("training")
    bar = training.get_by_role("progressbar", name="Training progress of the run on 2026-12-07")
    await expect(bar).to_have_attribute("max", "40")
    assert await bar.evaluate("(el) => el.value") == 12
    await expect(training.locator(".run-progress")).to_contain_text(
        "step 12 of 40 · loss 0.913 · 1,235 tokens/s · about 3 min left"
    )
    # The point whose loss is not a number is left out of the curve.
    points = (
        await training.locator("polyline.loss-line.train").get_attribute("points") or ""
    ).split()
    assert len(points) == 2
    await expect(run_item(t, "2026-12-06").locator(".outcome")).to_have_text(
        "Skipped: too few new examples"
    )
    await expect(run_item(t, "2026-12-05").locator(".outcome")).to_have_text(
        "Failed: trainer ran out of memory"
    )
    await expect(run_item(t, "2026-12-04").locator(".run-state")).to_have_text("unknown")
    assert await run_item(t, "2026-12-04").locator("svg, table").count() == 0
    failures = await low_contrast(t, "learning, training", expect_at_least=15)
    assert not failures, report(failures)
