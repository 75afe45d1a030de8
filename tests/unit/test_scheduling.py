"""The suite's test order (tests/scheduling.py): long tests lead every xdist worker's initial share."""

from xdist.scheduler.worksteal import WorkStealingScheduling

from tests.scheduling import long_first, worksteal_sizes


class _Node:
    """What the scheduler asks of a worker controller."""

    def __init__(self, name: str) -> None:
        self.sent: list[int] = []
        self.shutting_down = False
        self.gateway = type("Gateway", (), {"id": name})()

    def shutdown(self) -> None:
        self.shutting_down = True

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)


class _Config:
    def __init__(self, workers: int) -> None:
        self.workers = workers

    def getvalue(self, name: str) -> object:
        return {"tx": [f"{self.workers}*popen"]}.get(name)


def test_the_sizes_are_the_split_xdist_makes():
    for count, workers in [(553, 4), (7, 3), (10, 4), (3, 4)]:
        sched = WorkStealingScheduling(_Config(workers))
        nodes = [_Node(f"gw{i}") for i in range(workers)]
        for node in nodes:
            sched.add_node(node)
            sched.add_node_collection(node, [f"t{i}" for i in range(count)])
        sched.schedule()
        assert [len(node.sent) for node in nodes] == worksteal_sizes(count, workers)


def test_long_tests_lead_each_share_and_the_rest_keep_file_order():
    ids = [f"t{i:02d}" for i in range(20)]
    costs = {"t19": 100.0, "t03": 90.0, "t10": 50.0, "t11": 40.0, "t12": 30.0}
    order = long_first(ids, ids, 2, costs)
    assert sorted(order) == ids
    first, second = order[:10], order[10:]
    assert first[:3] == ["t19", "t11", "t12"] and second[:2] == ["t03", "t10"]  # 170 s against 140 s
    rest = [i for i in order if i not in costs]
    assert rest == sorted(rest)
    assert long_first(ids, ids, 1, costs)[:5] == ["t19", "t03", "t10", "t11", "t12"]
    assert long_first(ids, ids, 4, {}) == ids
