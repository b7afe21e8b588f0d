"""The app's leaderboard on the Hub backend (fake Hub server): results appear after a new commit."""

from leaderboard.filters import DEFAULT_STATE
from store import Stores, layout
from store.hub import HubDatasetStore
from tests._leaderboard_helpers import make_record, make_run
from tests._store_helpers import hub_server  # noqa: F401  (fixture)
from ui import leaderboard_tab, state


def test_leaderboard_reads_the_hub_results_and_notices_new_commits(hub_server):  # noqa: F811
    stores = Stores(
        results=HubDatasetStore("org/results", name="results"),
        queue=HubDatasetStore("org/queue", name="queue"),
        backend="hub",
    )
    previous = state.install(state.AppState.open(stores))
    try:
        st = state.current()
        st.cache.check_every_s = 0
        assert "No results yet" in leaderboard_tab.render_view(st, DEFAULT_STATE, 1).status

        rec = make_record(model="resnet18", runs=[make_run(bs=1, p50=4.0)])
        stores.results.write_json(layout.record_path(rec["key"]), rec)  # a new commit: the head moves
        vp = leaderboard_tab.render_view(st, DEFAULT_STATE, 1)
        assert "of **1** rows" in vp.status and len(vp.row_ids) == 1
        assert state.refresh_seconds(None, 10.0) == 60.0  # fewer API calls on the Hub
        assert state.refresh_seconds(3.0, 10.0) == 3.0
    finally:
        state.install(previous)
