"""The app's leaderboard on the Hub backend (fake Hub server): results appear after a new commit."""

import app
from leaderboard.filters import DEFAULT_STATE
from store import Stores
from store.hub import HubDatasetStore
from tests._leaderboard_helpers import make_record, make_run
from tests._store_helpers import hub_server  # noqa: F401  (fixture)


def test_leaderboard_reads_the_hub_results_and_notices_new_commits(hub_server, monkeypatch):  # noqa: F811
    stores = Stores(
        results=HubDatasetStore("org/results", name="results"),
        queue=HubDatasetStore("org/queue", name="queue"),
        backend="hub",
    )
    monkeypatch.setattr(app, "STATE", app.AppState(stores))
    monkeypatch.delenv("LEADERBOARD_REFRESH_S", raising=False)
    app.state().cache.check_every_s = 0
    assert "No results yet" in app.render_view(DEFAULT_STATE, 1)[1]

    rec = make_record(model="resnet18", runs=[make_run(bs=1, p50=4.0)])
    stores.results.write_json(f"records/{rec['key']}.json", rec)  # a new commit: the head moves
    _, status, _, _, _, row_ids = app.render_view(DEFAULT_STATE, 1)
    assert "of **1** rows" in status and len(row_ids) == 1
    assert app.refresh_seconds("LEADERBOARD_REFRESH_S", 10.0) == 60.0  # fewer API calls on the Hub
