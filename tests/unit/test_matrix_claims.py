"""matrix shows the firmware's claimed figure (HMAT) beside the measured one, where there is one."""

import os

from numabench.host.topology import read_topology_tree
from numabench.measure.matrix import MatrixPlan, build_matrix
from numabench.render.text import format_matrix

NODE = "sys/devices/system/node"


def hmat_tree(root):
    files = {f"{NODE}/online": "0-1\n", f"{NODE}/node0/cpulist": "0\n", f"{NODE}/node1/cpulist": "\n",
             f"{NODE}/node0/distance": "10 20\n", f"{NODE}/node1/distance": "20 10\n",
             f"{NODE}/node0/meminfo": "Node 0 MemTotal: 1048576 kB\n",
             f"{NODE}/node1/meminfo": "Node 1 MemTotal: 1048576 kB\n",
             "sys/devices/system/cpu/online": "0\n",
             f"{NODE}/node1/access1/initiators/read_latency": "250\n",
             f"{NODE}/node1/access1/initiators/read_bandwidth": "12000\n"}
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    os.symlink("../../../node0", os.path.join(root, NODE, "node1/access1/initiators/node0"))
    return read_topology_tree(str(root))


def test_claimed_figures_beside_measured_cells(tmp_path):
    topo = hmat_tree(tmp_path)
    plan = MatrixPlan(rows=[0], columns=[0, 1], specs=[])
    ms = [{"kernel": "latency", "cpu_node": 0, "mem_node": c, "latency_ns": v, "bandwidth_bytes_per_s": None}
          for c, v in ((0, 100.0), (1, 240.0))]
    ms += [{"kernel": "read", "cpu_node": 0, "mem_node": c, "latency_ns": None, "bandwidth_bytes_per_s": v}
           for c, v in ((0, 20e9), (1, 11e9))]
    doc = build_matrix(topo, plan, ms, [])
    assert doc["claimed"]["0"]["0"] is None
    assert doc["claimed"]["0"]["1"]["read_latency_ns"] == 250
    text = format_matrix(doc)
    assert "240.0 x2.40 [20] (claimed 250)" in text
    assert "11.00 x0.55 [20] (claimed 12.00)" in text
    assert "100.0 [10] (claimed" not in text


def test_no_claims_no_key(tmp_path):
    topo = hmat_tree(tmp_path)
    doc = build_matrix(topo, MatrixPlan(rows=[0], columns=[0], specs=[]), [], [])
    assert "claimed" not in doc
