"""The running app through gradio_client: the documented /classify endpoint, its errors,
and the task-building flow (one client = one browser session with its own task)."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "glyphs-5way"
# the task flow's last input: the page's mark that it shows a task (app.held_task), empty for a
# client that has no page
NO_PAGE = ""
# /add_images's too: the page's mark of what its upload boxes hold (app.add_images), none here
NO_MARK = ""


def support_set(shots: int = 2):
    classes = sorted(p.name for p in (DEMO / "support").iterdir())
    files, names = [], []
    for cls in classes:
        for path in sorted((DEMO / "support" / cls).glob("*.png"))[:shots]:
            files.append(str(path))
            names.append(cls)
    queries = [str(sorted((DEMO / "query" / cls).glob("*.png"))[0]) for cls in classes]
    return classes, files, names, queries


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


@pytest.mark.parametrize("method", ["siamese", "matching", "maml", "protonet"])
def test_classify_endpoint(client, method):
    classes, files, names, queries = support_set()
    out = client.predict(method, [handle_file(f) for f in files], names, [handle_file(q) for q in queries],
                         api_name="/classify")
    out = json.loads(out) if isinstance(out, str) else out
    assert [p["label"] for p in out["predictions"]] == classes  # the shipped models get these right
    for prediction in out["predictions"]:
        assert set(prediction["confidences"]) == set(classes)
        assert abs(sum(prediction["confidences"].values()) - 1) < 1e-3
    assert out["method"] == method and out["adapt_ms"] >= 0


def test_classify_is_the_documented_endpoint(client):
    api = client.view_api(return_format="dict", print_info=False)
    assert list(api["named_endpoints"]) == ["/classify"]
    assert [p["parameter_name"] for p in api["named_endpoints"]["/classify"]["parameters"]] == [
        "method", "support_images", "class_names", "query_images", "domain"]


def test_the_readmes_classify_example_answers_as_shown(app_server, monkeypatch, capsys):
    """README, "Using it from code": the gradio_client call runs as written (from the project's
    folder, at this server's address) and answers what the README shows it print, the times and
    the device aside (its example output was once made up: "alpha" and "beta" at 0.97 and 0.03)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Using it from code"):readme.index("## Results")]
    call, shown = re.findall(r"```python\n(.*?)```", section, re.S)[:2]
    assert "api_name=\"/classify\"" in call and "print(out)" in call
    monkeypatch.chdir(ROOT)
    names: dict = {}
    exec(compile(call.replace("http://127.0.0.1:7860/", app_server.url), "README.md", "exec"), names)
    printed = ast.literal_eval(capsys.readouterr().out.strip().splitlines()[-1])
    expected = ast.literal_eval(shown)
    assert printed == names["out"]
    for answer in (printed, expected):
        assert answer.pop("device") in ("cpu", "cuda")
        assert all(answer.pop(key) >= 0 for key in ("adapt_ms", "classify_ms", "encode_ms"))
    assert printed == expected


def test_shared_contract_checker(app_server):
    checker = ROOT.parent / "shared" / "tools" / "api_contract.py"
    if not checker.is_file():
        pytest.skip("../shared/tools/api_contract.py is not present")
    done = subprocess.run([sys.executable, str(checker), app_server.url], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("contract ok") == 4


@pytest.mark.parametrize("case, message", [
    ("single class", "at least 2 classes"),
    ("names mismatch", "one class name per support image"),
    ("not an image", "not an image file"),
    ("unknown method", "Unknown method"),
    ("no queries", "at least one query"),
    ("a dot", "too small for its strokes"),
])
def test_classify_errors_are_clear(client, tmp_path, case, message):
    classes, files, names, queries = support_set(1)
    method = "protonet"
    if case == "single class":
        files, names = files[:1], names[:1]
    elif case == "names mismatch":
        names = names[:-1]
    elif case == "not an image":
        bad = tmp_path / "notes.png"
        bad.write_bytes(b"definitely not a png")
        queries = [str(bad)]
    elif case == "unknown method":
        method = "knn"
    elif case == "no queries":
        queries = []
    elif case == "a dot":  # crop to the ink made a "+" of it, and every method answered "plus, 100%"
        from PIL import Image, ImageDraw

        dot = Image.new("L", (280, 280), 255)
        ImageDraw.Draw(dot).ellipse([135, 135, 145, 145], fill=0)
        dot.save(tmp_path / "dot.png")
        queries = [str(tmp_path / "dot.png")]
    with pytest.raises(AppError) as caught:
        client.predict(method, [handle_file(f) for f in files], names, [handle_file(q) for q in queries],
                       api_name="/classify")
    assert message in str(caught.value)
    assert "Traceback" not in str(caught.value)


def raw_call(url: str, api_name: str, data: list) -> str:
    """POST ``data`` to an endpoint as any HTTP client could (no file upload) and return the
    event stream of its answer."""
    import httpx

    base = url.rstrip("/") + f"/gradio_api/call/{api_name}"
    event = httpx.post(base, json={"data": data}, timeout=30).json()["event_id"]
    return httpx.get(f"{base}/{event}", timeout=120).text


def test_classify_reads_only_uploaded_files(app_server, client):
    """Paths typed as strings (or a file dict Gradio never received) name files on the server:
    /classify refuses them, whether they exist or not, rather than read them or say which exist."""
    classes, files, names, queries = support_set(1)
    for support in ([files[0], files[1]], ["/etc/hostname", files[1]], ["/no/such/file.png", files[1]],
                    [{"path": files[0]}, {"path": files[1]}]):
        answer = raw_call(app_server.url, "classify", ["protonet", support, names[:2], [queries[0]], "characters"])
        assert "event: error" in answer and "support_images[0] is not an uploaded file" in answer, answer
        assert "hostname" not in answer and "does not exist" not in answer, answer


def test_plain_http_calls_with_too_few_values_are_told_what_is_missing(app_server):
    """Gradio answered a positional call with too few values with ``{"error": null}`` and a call by
    name without a required argument with a bare 500; both get a 422 that says what is missing,
    and a positional call may leave out the optional domain, as a call by name may."""
    import httpx

    base = app_server.url.rstrip("/") + "/gradio_api/call"
    for data in ([], ["protonet"], ["protonet", [], []]):
        answer = httpx.post(f"{base}/classify", json={"data": data}, timeout=30)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"].startswith("/classify takes method, support_images, class_names, query_images")
        missing = ", ".join(["method", "support_images", "class_names", "query_images"][len(data):])
        assert answer.json()["error"].endswith(f"got {len(data)} value(s), missing: {missing}."), answer.text
    answer = httpx.post(f"{base}/v2/classify", json={"method": "protonet", "class_names": []}, timeout=30)
    assert answer.status_code == 422 and "missing: support_images, query_images." in answer.json()["error"]
    for body in (b"{not json", b"[" * 100_000):  # (the second: a RecursionError's 500 and trace)
        answer = httpx.post(f"{base}/classify", content=body, timeout=30)
        assert answer.status_code == 422 and "not JSON" in answer.json()["error"]
    # an argument /classify does not take (Gradio: a bare 500), or more values than it takes (ignored)
    answer = httpx.post(f"{base}/v2/classify", json={"method": "protonet", "support_images": [], "class_names": [],
                                                     "query_images": [], "bogus": 1}, timeout=30)
    assert answer.status_code == 422 and answer.json()["error"].endswith("; unknown: bogus."), answer.text
    # (but an oauth_token, which Gradio itself drops where the function takes none, is no error)
    answer = httpx.post(f"{base}/v2/classify", json={"method": "protonet", "support_images": [], "class_names": [],
                                                     "query_images": [], "oauth_token": None}, timeout=30)
    assert answer.status_code == 200 and "event_id" in answer.json(), answer.text
    answer = httpx.post(f"{base}/classify", json={"data": ["protonet", [], [], [], "characters", "x"]}, timeout=30)
    assert answer.status_code == 422 and "got 6 values, 1 more than it takes." in answer.json()["error"]
    # a Gradio file object naming a file on the server, not an upload (Gradio: {"error": null}, a trace)
    server_file = {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}
    nul = {"path": "/tmp/a\u0000b.png", "meta": {"_type": "gradio.FileData"}}  # (a ValueError's 500 and trace)
    answer = httpx.post(f"{base}/classify", json={"data": ["protonet", [nul], ["a"], [nul]]}, timeout=30)
    assert answer.status_code == 422 and "support_images[0] is not an uploaded file" in answer.json()["error"]
    for version, body in (("", {"data": ["protonet", [server_file], ["a"], [server_file]]}),
                          ("v2/", {"method": "protonet", "support_images": [], "class_names": [],
                                   "query_images": [server_file]})):
        answer = httpx.post(f"{base}/{version}classify", json=body, timeout=30)
        assert answer.status_code == 422, answer.text
        assert "is not an uploaded file" in answer.json()["error"] and "hostname" not in answer.text
    # a URL: /classify fetches nothing (Gradio tried, and offline answered {"error": null} with a trace),
    # by HTTP or by gradio_client (which raised "The upstream Gradio app has raised an exception")
    url_file = {"path": "https://example.com/a.png", "url": "https://example.com/a.png",
                "meta": {"_type": "gradio.FileData"}}
    answer = httpx.post(f"{base}/classify", json={"data": ["protonet", [server_file], ["a"], [url_file]]}, timeout=30)
    assert answer.status_code == 422 and answer.json()["error"].startswith("support_images[0] is not an uploaded"), \
        answer.text  # (the first file refused is named)
    answer = httpx.post(f"{base}/classify", json={"data": ["protonet", [url_file] * 2, ["a", "b"], []]}, timeout=30)
    assert answer.status_code == 422 and answer.json()["error"].startswith("support_images[0] is a URL: /classify "
                                                                           "fetches nothing."), answer.text
    from gradio_client.exceptions import ValidationError

    classes, files, names, queries = support_set(1)
    with pytest.raises(ValidationError, match=r"query_images\[1\] is a URL: /classify fetches nothing"):
        Client(app_server.url, verbose=False).predict(
            "protonet", [handle_file(f) for f in files[:2]], names[:2],
            [handle_file(queries[0]), handle_file("https://example.com/a.png")], api_name="/classify")
    # four values: the function runs (and says what is wrong with an empty task)
    assert "Give at least one query image." in raw_call(app_server.url, "classify", ["protonet", [], [], []])


def test_an_event_the_server_does_not_hold_is_answered_with_task_lost(app_server):
    """A thumbnail's Remove button is made by a render for the session that showed the task; a
    server restarted since holds no such session, and Gradio answered a click on it with a
    KeyError's bare 500 ("Could not parse server response" on the page). It is told, in the
    page's language, that its task is gone. A session the server holds, asking for an event it no
    longer holds (a button of a task drawn before its last change, pressed twice), is told to click
    again: its task is not gone. An event the server holds is queued as before."""
    import httpx

    join = app_server.url.rstrip("/") + "/gradio_api/queue/join"
    body = {"data": [], "event_data": None, "fn_index": 10_000, "trigger_id": 10_000, "session_hash": "gone1234"}
    for headers, words in (({}, "This page's task is no longer on the server"),
                           ({"accept-language": "zh-CN,zh;q=0.9"}, "服务器上已没有这个页面的任务"),
                           ({"cookie": "app_lang=zh", "accept-language": "en"}, "服务器上已没有这个页面的任务")):
        answer = httpx.post(join, json=body, headers=headers, timeout=30)
        assert answer.status_code == 410 and answer.json()["detail"].startswith(words), answer.text
    # the index read as Gradio reads it ("10000" is event 10000: it was let through, to Gradio's 500)
    for index in ("10000", 10000.0):
        answer = httpx.post(join, json={**body, "fn_index": index}, timeout=30)
        assert answer.status_code == 410, answer.text
    config = httpx.get(app_server.url.rstrip("/") + "/config", timeout=30).json()
    held = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "clear_task")
    answer = httpx.post(join, json={**body, "fn_index": held, "trigger_id": None, "data": ["characters"]}, timeout=30)
    assert answer.status_code == 200 and "event_id" in answer.json(), answer.text
    # a session the server holds: with a task, told to click again; without (its page's first events
    # after a restart were refused), told that its task is gone
    with_task, without = Client(app_server.url, verbose=False), Client(app_server.url, verbose=False)
    with_task.predict("characters", api_name="/clear_task")
    assert "no longer on the server" in without.predict("0", "shown", api_name="/remove_class")[-1]
    answer = httpx.post(join, json={**body, "session_hash": with_task.session_hash}, timeout=30)
    assert answer.status_code == 409 and answer.json()["detail"].startswith("The page was still updating"), answer.text
    answer = httpx.post(join, json={**body, "session_hash": without.session_hash}, timeout=30)
    assert answer.status_code == 410, answer.text


@pytest.mark.parametrize("case, message", [
    ("names as one string", "class_names must be a list"),
    ("a name that is not text", "class_names[1] is None"),
    ("names that are booleans", "class_names[0] is True"),
    ("nested lists", "support_images[0] is not an uploaded file"),
    ("no method", "method is missing: give one of siamese, matching, maml, protonet"),
    ("one name for two images", "Give one class name per support image: 2 images, 1 name."),
    ("an invisible name", "Every support image needs a non-empty class name."),
])
def test_classify_refuses_malformed_arguments(client, case, message):
    classes, files, names, queries = support_set(1)
    support, labels, method = [handle_file(f) for f in files[:2]], names[:2], "protonet"
    if case == "names as one string":
        labels = "ab"
    elif case == "a name that is not text":
        labels = [names[0], None]
    elif case == "names that are booleans":  # (not the classes "True" and "False")
        labels = [True, False]
    elif case == "nested lists":
        support = [[handle_file(files[0])], [handle_file(files[1])]]
    elif case == "no method":  # (it read as the method "none")
        method = None
    elif case == "one name for two images":  # (it said "1 names")
        labels = names[:1]
    elif case == "an invisible name":  # a zero-width space: it was a class that showed as nothing
        labels = [names[0], "\u200b"]
    with pytest.raises(AppError) as caught:
        client.predict(method, support, labels, [handle_file(queries[0])], api_name="/classify")
    assert message in str(caught.value)


def test_the_api_page_says_what_classify_takes_and_returns():
    """The "Use via API" page showed only the docstring's first line and an answer of type Any:
    now its whole description (methods, limits, the answer's fields) and the answer's shape."""
    import app

    endpoint = app.demo.get_api_info()["named_endpoints"]["/classify"]
    assert "Returns {\"predictions\"" in endpoint["description"] and "at most 100" in endpoint["description"]
    assert endpoint["returns"][0]["python_type"]["type"].startswith(
        "dict(method: str, classes: list[str], predictions: list[dict(label: str, confidences: dict(str, float))]")


def test_only_files_inside_the_upload_folder_count_as_uploaded(tmp_path):
    """The upload folder itself (a path sent over plain HTTP) was taken as an upload and then
    reported as an image that "does not exist"; it is refused as not uploaded."""
    import app
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder())
    assert not app.uploaded(str(folder)) and not app.uploaded(str(folder) + "/") and not app.uploaded(str(tmp_path))
    inside = folder / "qa-uploaded-test" / "a.png"
    inside.parent.mkdir(parents=True, exist_ok=True)
    try:
        inside.write_bytes(b"x")
        assert app.uploaded(str(inside)) and not app.uploaded(str(inside.parent))
    finally:
        shutil.rmtree(inside.parent)


def test_classify_takes_a_single_query_file(client):
    """One query image sent as a file rather than a list of one is classified, not taken apart;
    a method's name is read in any case, as the domain's is."""
    classes, files, names, queries = support_set(1)
    out = client.predict(" ProtoNet", [handle_file(f) for f in files], names, handle_file(queries[2]),
                         api_name="/classify")
    assert [p["label"] for p in out["predictions"]] == [classes[2]] and out["method"] == "protonet"


def test_task_building_flow(app_server):
    """Add classes image by image, then adapt, classify and compare, in one session. Refused
    inputs come back as a warning in the status line and leave the task as it was."""
    client = Client(app_server.url, verbose=False)
    classes, files, names, queries = support_set(2)
    for cls in classes[:3]:
        mine = [handle_file(f) for f, n in zip(files, names) if n == cls]
        out = client.predict("__new__", cls, mine, None, None, NO_PAGE, NO_MARK, api_name="/add_images")
        assert out[-1] == f"Added the new class “{cls}” with 2 image(s)."
    refused = [
        (("__new__", "", [handle_file(files[0])], None, None), "name"),
        (("0", "", None, None, None), "Choose images"),
    ]
    for arguments, message in refused:
        status = client.predict(*arguments, NO_PAGE, NO_MARK, api_name="/add_images")[-1]
        assert status.startswith("⚠") and message in status, status
    out = client.predict("0", classes[0], [handle_file(files[2])], None, None, NO_PAGE, NO_MARK, api_name="/add_images")
    assert out[-1] == f"Added 1 image(s) to “{classes[0]}”."
    curve, embedding, _, matrix, _, status, replay, replay_plot, _ = client.predict(
        "maml", "cpu", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")
    assert status.startswith("**MAML** adapted on **CPU**"), status
    assert "no labelled queries" in status and "classifying 0 queries" not in status, status
    label, gallery, explanation, _, classify_status = client.predict(
        "protonet", "cpu", 3, 0.4, [handle_file(q) for q in queries[:3]], None, None, 0,
        NO_PAGE, api_name="/classify_queries")
    assert label["label"] == classes[0] and len(gallery["value"]) == 3
    assert gallery["selected_index"] == 0  # the query the label explains
    assert classify_status.startswith("Classified 3 image(s)")
    # compare needs labelled queries: refused for a hand-built task, works after loading an example
    _, compare_status = client.predict("cpu", NO_PAGE, api_name="/compare_methods")
    assert "known labels" in compare_status
    client.predict("glyphs-5way", api_name="/load_example")
    # the adaptation's time of a method that steps holds its scoring of the queries at each step
    # (for the curve), which the status once left unsaid beside a prototype method's time
    for method, scoring in (("maml", True), ("protonet", False)):
        status = client.predict(method, "cpu", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")[5]
        assert ("scoring the 15 queries at each step the curve shows; classifying them took" in status) == scoring, status
        assert ("; classifying 15 queries took" in status) != scoring, status
    table, compare_status = client.predict("cpu", NO_PAGE, api_name="/compare_methods")
    rows = table["data"] if "data" in table else table["value"]["data"]
    core = [row for row in rows if row[0] in ("Siamese network", "Matching Networks", "MAML", "Prototypical Networks")]
    assert len(core) == 4 and all(row[1] >= 60 for row in core), rows
    # beside each result: the checkpoint's recorded test accuracy and the paper's figure
    from fewshot.service import ModelZoo

    recorded = ModelZoo().recorded_accuracy("protonet", 5, 5)
    protonet = next(row for row in rows if row[0] == "Prototypical Networks")
    assert protonet[2] == f"{100 * recorded['accuracy']:.1f} ± {100 * recorded['ci95']:.1f}", protonet
    assert protonet[3] == "99.7 (Snell et al. 2017)" and protonet[-1] == "protonet-omniglot-vinyals-5shot", protonet
    assert "1,000 episodes of 5-way 5-shot" in compare_status and "this task: 5-way 5-shot" in compare_status
    # one task's accuracy moves by whole queries: the note says how much, and which column compares methods
    assert "This task has 15 queries, so one query is 6.7 points of its accuracy" in compare_status
    assert "the test split's column, over 1,000 tasks, is the one to compare methods by" in compare_status
    assert "not the Adapt tab's sliders" in compare_status  # MAML's row: its checkpoint's own steps and α
    assert "Published: the paper's figure for the same setting" in compare_status
    # the Siamese network also fine-tuned on the support set, beside the record and the published figure of that
    # protocol (the published Siamese row fine-tuned on each task); the row as served, beside Vinyals et al.'s
    # figure for the network not fine-tuned
    finetuned = ModelZoo().recorded_accuracy("siamese", 5, 5, finetuned=True)
    tuned = next(row for row in rows if row[0].startswith("Siamese network, fine-tuned"))
    assert tuned[0] == f"Siamese network, fine-tuned ({finetuned['adapt_steps']} steps)", tuned
    # Koch et al. tabled no such tasks: the figure is their network as Finn et al. (and Vinyals et al.) tabled it
    assert tuned[2].startswith(f"{100 * finetuned['accuracy']:.1f} ±"), tuned
    assert tuned[3] == "98.4 (Koch et al.'s network, in Finn et al. 2017)", tuned
    assert next(row for row in rows if row[0] == "Siamese network")[3] == "98.4 (Koch et al.'s network, in Vinyals et al. 2016)"
    # MAML's paper figure was measured with its queries normalised as one batch, and the note says so
    assert "Finn et al.'s code" in compare_status
    # the transfer row names the head that serves (the better one on the validation characters)
    assert "Transfer learning (Baseline)" in [row[0] for row in rows], rows
    # the example glyphs are clean enough for raw pixels (benchmarks/app_tasks_accuracy.py), and the note says so
    pixels = next(row for row in rows if row[0] == "No learning (raw pixels)")
    floor = ModelZoo().recorded_accuracy("pixels", 5, 5)["accuracy"]
    assert pixels[1] >= max(row[1] for row in core) and pixels[2].startswith(f"{100 * floor:.1f} ±"), pixels
    assert "too easy to show what meta-learning buys" in compare_status


def test_the_name_box_decides_which_class_gets_the_images(app_server):
    """After an add the Class menu stays on that class; typing a new name and adding again once
    put the images into the selected class and dropped the name (found by a walkthrough). The
    name box decides: a new name makes a new class, an existing one (in any case) adds to it, an
    empty one adds to the class selected; a rename may not take another class's name in another case."""
    client = Client(app_server.url, verbose=False)
    classes, files, names, _ = support_set(3)
    first, second = classes[0], classes[1]
    images = {cls: [handle_file(f) for f, n in zip(files, names) if n == cls] for cls in (first, second)}
    def add(choice, name, image):
        menu, name, *_, status = client.predict(choice, name, [image], None, None, NO_PAGE, NO_MARK, api_name="/add_images")
        return menu["value"], name, status

    assert add("__new__", first, images[first][0]) == ("0", first, f"Added the new class “{first}” with 1 image(s).")
    assert add("0", second, images[second][0]) == ("1", second, f"Added the new class “{second}” with 1 image(s).")
    assert add("1", first.upper(), images[first][1]) == ("0", first, f"Added 1 image(s) to “{first}”.")
    assert add("1", "", images[second][1]) == ("1", second, f"Added 1 image(s) to “{second}”.")
    *_, status = client.predict("1", first.title(), NO_PAGE, api_name="/rename_class")
    assert status.startswith("⚠") and "already exists" in status, status


def test_sessions_do_not_share_tasks(app_server):
    a, b = Client(app_server.url, verbose=False), Client(app_server.url, verbose=False)
    a.predict("glyphs-3way", api_name="/load_example")
    status_b = b.predict("protonet", "cpu", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")[5]
    assert "Build a task first" in status_b
    assert "Prototypical" in a.predict("protonet", "cpu", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")[5]


def test_messages_follow_the_browser_language(app_server, tmp_path):
    chinese = Client(app_server.url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    status = chinese.predict("__new__", "", None, None, None, NO_PAGE, NO_MARK, api_name="/add_images")[-1]
    assert status.startswith("⚠") and "请先" in status
    chinese.predict("glyphs-3way", api_name="/load_example")
    bad = tmp_path / "scan.png"
    bad.write_bytes(b"not an image at all")
    status = chinese.predict("0", "", [handle_file(str(bad))], None, None, NO_PAGE, NO_MARK, api_name="/add_images")[-1]
    assert "scan.png" in status and "不是可以读取的图像文件" in status
    assert "/scan.png" not in status, status  # the file's name, not its path on the server
    # the methods' names too: in statuses and in Compare's rows
    status = chinese.predict("protonet", "cpu", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")[5]
    assert "**原型网络**" in status, status
    assert "。 " not in status, status  # no space between Chinese sentences
    table, _ = chinese.predict("cpu", NO_PAGE, api_name="/compare_methods")
    names = [row[0] for row in (table["data"] if "data" in table else table["value"]["data"])]
    assert {"孪生网络", "匹配网络", "MAML", "原型网络"} <= set(names), names


PHOTO_DEMO = ROOT / "demo" / "scenes-3way"


def photo_models() -> bool:
    from fewshot.service import ModelZoo

    return bool(ModelZoo.for_domain("photos").available())


@pytest.mark.skipif(not photo_models(), reason="no photo checkpoints shipped")
@pytest.mark.parametrize("method", ["siamese", "matching", "maml", "protonet", "meta-lstm", "pixels"])
def test_classify_photos(client, method):
    """The photo domain through /classify: the project's painted scenes, 2 shots each."""
    classes = sorted(p.name for p in (PHOTO_DEMO / "support").iterdir())
    files = [str(p) for c in classes for p in sorted((PHOTO_DEMO / "support" / c).glob("*.png"))[:2]]
    names = [c for c in classes for _ in range(2)]
    queries = [str(sorted((PHOTO_DEMO / "query" / c).glob("*.png"))[0]) for c in classes]
    out = client.predict(method, [handle_file(f) for f in files], names, [handle_file(q) for q in queries],
                         "photos", api_name="/classify")
    assert [p["label"] for p in out["predictions"]] == classes
    assert "miniimagenet" in out["checkpoint"]


def test_unknown_domain_is_refused(client):
    classes, files, names, queries = support_set(1)
    with pytest.raises(AppError) as caught:
        client.predict("protonet", [handle_file(f) for f in files], names, [handle_file(queries[0])], "sounds",
                       api_name="/classify")
    assert "domain" in str(caught.value) and "Traceback" not in str(caught.value)


@pytest.mark.skipif(not photo_models(), reason="no photo checkpoints shipped")
def test_photo_flow_keeps_the_task_across_domains(app_server):
    """Load the photo example, adapt and compare in the photo domain; switching domain reads
    the same images the other way and removes nothing."""
    client = Client(app_server.url, verbose=False)
    out = client.predict("scenes-3way", api_name="/load_example")
    assert out[-1] == "photos" and "3 classes" in out[-2]
    table, compare_status = client.predict("cpu", NO_PAGE, api_name="/compare_methods")
    rows = table["data"] if "data" in table else table["value"]["data"]
    assert all(isinstance(row[1], (int, float)) and row[1] >= 60 for row in rows), rows
    assert all("miniimagenet" in row[-1] for row in rows), rows
    assert all(row[2] != "—" and row[3] == "—" for row in rows), rows  # recorded, but no paper is comparable
    assert "this task: 3-way 5-shot" in compare_status and "pretrained on ImageNet" in compare_status
    # no learning reads the raw pixels; the painted scenes are easy enough for it, and the note says so
    pixels = next(row for row in rows if row[0] == "No learning (raw pixels)")
    assert pixels[-1] == "pixels-miniimagenet-conv4", pixels
    # of the transfer heads, the one that did better on the validation classes serves, and its row says which
    transfer = next(row for row in rows if row[0].startswith("Transfer learning"))
    assert transfer[0] == "Transfer learning (Baseline++)" and transfer[-1].endswith("-baseline-pp"), transfer
    assert "Finn et al.'s code" not in compare_status  # no paper's MAML figure beside a photo model
    assert "too easy" in compare_status and "random mini-ImageNet task" in compare_status, compare_status
    status = client.predict("characters", "protonet", NO_PAGE, api_name="/set_domain")[-1]
    assert "nothing was removed" in status
    curve, embedding, _, matrix, _, status, replay, replay_plot, _ = client.predict(
        "protonet", "cpu", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")
    assert "omniglot" in status and "Query accuracy" in status, status


@pytest.mark.skipif(not photo_models(), reason="no photo checkpoints shipped")
def test_a_network_that_kept_its_start_says_so(app_server):
    """The photo MAML networks' meta-training kept none of its updates: their θ is their random
    start, so the Adapt tab draws one curve, labelled as that start, and says nothing was meta-learned."""
    from fewshot.checkpoints import kept_start, read_card
    from fewshot.service import ModelZoo

    card = read_card(ModelZoo.for_domain("photos").checkpoint("maml", 3, 5))
    if not kept_start(card):
        pytest.skip("the photo MAML checkpoint learned something")
    client = Client(app_server.url, verbose=False)
    client.predict("scenes-3way", api_name="/load_example")
    curve, embedding, _, _, _, status, *_ = client.predict("maml", "cpu", 3, 0.1, 0, NO_PAGE, api_name="/run_adaptation")
    names = trace_names(curve)
    assert names and all(name.endswith("θ: untouched start") for name in names), names
    assert f"none of its {card['training']['steps']:,} updates" in status and "no second curve" in status, status
    title = json.loads(embedding.get("value", embedding)["plot"])["layout"]["title"]["text"]
    assert "features of the adapted network θ′" in title, title  # the plot names the space it projects
    # any method's network that kept its start says so (it has no curve to label)
    protonet = read_card(ModelZoo.for_domain("photos").checkpoint("protonet", 3, 5))
    status = client.predict("protonet", "cpu", 3, 0.1, 0, NO_PAGE, api_name="/run_adaptation")[5]
    assert ("Nothing in this network was meta-learned" in status) == kept_start(protonet), status
    assert "no second curve" not in status
    # a network that learned draws its meta-learned θ beside the random start, and no such note
    client.predict("glyphs-3way", api_name="/load_example")
    curve, embedding, _, _, _, status, *_ = client.predict("maml", "cpu", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")
    names = trace_names(curve)
    assert any(name.endswith("meta-learned θ") for name in names) and any(
        name.endswith("random initialisation") for name in names), names
    assert "Nothing in this network was meta-learned" not in status, status


@pytest.mark.skipif(not photo_models(), reason="no photo checkpoints shipped")
def test_compare_keeps_the_methods_that_serve_a_wide_photo_task(app_server):
    """No MAML or Meta-LSTM photo checkpoint serves more than 5 ways: on a 6-way photo task their
    rows say so and every other method still gets its row (the first refusal once dropped the table)."""
    from fewshot.data import mini_imagenet_available

    if not mini_imagenet_available():
        pytest.skip("mini-ImageNet is not available")
    client = Client(app_server.url, verbose=False)
    assert "6" in client.predict(6, 1, api_name="/sample_mini_imagenet")[-2]
    table, compare_status = client.predict("cpu", NO_PAGE, api_name="/compare_methods")
    rows = {row[0]: row for row in (table["data"] if "data" in table else table["value"]["data"])}
    assert "No trained MAML checkpoint can serve a 6-way task" in rows["MAML"][1], rows
    assert isinstance(rows["Prototypical Networks"][1], (int, float)), rows
    assert not compare_status.startswith("⚠"), compare_status
    # no published column to explain: the note says why it is empty, not what it would hold
    assert "no paper's figure is comparable" in compare_status and "Published:" not in compare_status
    assert {row[3] for row in rows.values()} <= {"—", ""}, rows  # (a refused row is blank)


def test_meta_lstm_curve_is_drawn_beside_mamls_on_the_same_task(app_server):
    """Meta-LSTM's learned updates and MAML's fixed-α steps, run on one task, share a plot;
    a new task starts a fresh comparison."""
    from fewshot.service import ModelZoo

    if "meta-lstm" not in ModelZoo().available():
        pytest.skip("no Meta-LSTM checkpoint shipped")
    client = Client(app_server.url, verbose=False)
    client.predict("glyphs-5way", api_name="/load_example")
    client.predict("maml", "cpu", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")
    curve, _, _, gates, _, status, *_ = client.predict("meta-lstm", "cpu", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")
    assert status.startswith("**Meta-LSTM** adapted"), status
    names = trace_names(curve)
    assert "support loss · Meta-LSTM" in names and "support loss · MAML" in names, names
    assert set(trace_names(gates)) == {"conv block 1", "conv block 2", "conv block 3", "conv block 4",
                                       "classifier"}  # gates per layer
    client.predict("0", "FLAG", NO_PAGE, api_name="/rename_class")  # a new name, the same images: the same curves
    curve = client.predict("meta-lstm", "cpu", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")[0]
    assert "support loss · MAML" in trace_names(curve)
    client.predict("glyphs-3way", api_name="/load_example")
    curve = client.predict("meta-lstm", "cpu", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")[0]
    assert not any(name.endswith("MAML") for name in trace_names(curve))


def trace_names(update: dict) -> list[str]:
    """The trace names of a Plotly figure as the client receives it."""
    plot = json.loads(update["value"]["plot"])
    return [trace.get("name", "") for trace in plot["data"]]


def test_siamese_explanation_is_the_distance_to_each_class():
    """A Siamese query is explained by its distance to each class's mean code (what decides it), on an
    axis that fits contrastive distances past 1."""
    import app

    state = {"method": "siamese", "classes": ["alpha", "beta"], "support": ["a1", "a2", "b1", "b2"],
             "probabilities": [[0.8, 0.2]], "explanation": {"class_distances": [[0.4, 1.7]]}, "lang": "en"}
    confidences, plot = app.explain_query(0, state)
    assert confidences == {"alpha": 0.8, "beta": 0.2}
    bars = plot.data[0]
    assert list(plot.layout.xaxis.ticktext) == ["alpha", "beta"] and list(bars.y) == [0.4, 1.7]
    assert plot.layout.yaxis.range is None and "mean code" in plot.layout.title.text


def test_memory_is_handed_back_once_no_request_computes():
    """The trim runs after the last of overlapping requests ends, on its own thread, once per
    burst; never while a request computes, and a refused or failed request still counts down."""
    import threading
    import time

    import app

    trimmed = threading.Event()
    memory = app.ReturnMemory(trim=lambda pad: trimmed.set(), delay=0.05)
    inside = threading.Event()
    go_on = threading.Event()

    @memory
    def slow():
        inside.set()
        go_on.wait(5)
        return "done"

    @memory
    def streamed():
        yield 1
        yield 2

    @memory
    def failing():
        raise ValueError("bad input")

    worker = threading.Thread(target=slow)
    worker.start()
    inside.wait(5)
    assert list(streamed()) == [1, 2]  # ends while slow() still runs: no trim yet
    with pytest.raises(ValueError):
        failing()
    time.sleep(0.2)
    assert not trimmed.is_set() and memory.active == 1
    go_on.set()
    worker.join()
    assert trimmed.wait(5) and memory.active == 0 and memory.trims == 1
    # the handlers that compute (the API endpoint, Adapt, Classify, Compare) are the trimmed ones (a
    # function put between Classify's decorators once took it off them, and no test saw it)
    for handler in (app.classify_api, app.run_adaptation, app.classify_queries, app.compare_methods):
        assert any(cell.cell_contents is app.RETURN_MEMORY for cell in handler.__closure__ or ()), handler


def test_a_stopped_app_leaves_no_files_behind(tmp_path):
    """Drawings are saved in a folder of the app's own, removed when the app is stopped (by a
    signal, as a host stops it); Gradio's cache of uploads is emptied a day after each file. (The
    app's temporary folder is the test's own: other apps running beside it made and removed theirs.)"""
    from tests.app_server import AppServer

    import app

    assert app.demo.delete_cache == (3600, 86400)
    folders = lambda: set(tmp_path.glob("fewshot-app-*"))  # noqa: E731
    server = AppServer(env={"TMPDIR": str(tmp_path)})
    try:
        assert folders(), "the app made no folder of its own"
    finally:
        server.stop()
    assert not folders()


def test_compare_shows_its_rows_as_they_come(app_server):
    """Compare streams: the table grows a row per method, with a line on the one running now,
    and ends with the note on the columns (a classroom's Compare takes seconds)."""
    client = Client(app_server.url, verbose=False)
    client.predict("glyphs-3way", api_name="/load_example")
    job = client.submit("cpu", NO_PAGE, api_name="/compare_methods")
    final = job.result(timeout=300)
    outputs = job.outputs()
    progress = [status for _, status in outputs[:-1]]
    assert len(outputs) >= 4 and progress[0].startswith("Compared 0 of "), progress
    # a second comparison starts by taking the first one's table away, rather than shrinking it
    job = client.submit("cpu", NO_PAGE, api_name="/compare_methods")
    job.result(timeout=300)
    first = job.outputs()[0][0]
    assert first.get("visible") is False, first
    assert any("Compared 2 of " in status for status in progress), progress
    assert "Test split:" in final[1]


def test_maml_with_no_inner_steps_shows_its_start(app_server):
    """0 inner steps is a legal choice: the start's accuracy, one point on the curve, no replay
    slider (a slider needs two ends: the app once failed every output with a bare 'Error'), and
    the embedding plot of the start's features, named as such."""
    client = Client(app_server.url, verbose=False)
    client.predict("glyphs-3way", api_name="/load_example")
    curve, embedding, _, _, _, status, replay, replay_plot, _ = client.predict("maml", "cpu", 0, 0.4, 0, NO_PAGE,
                                                                               api_name="/run_adaptation")
    assert "MAML** adapted" in status and "Query accuracy" in status, status
    assert replay["visible"] is False and replay_plot["visible"] is True, (replay, replay_plot)
    steps = {x for trace in json.loads(curve["value"]["plot"])["data"] for x in trace["x"]}
    assert steps == {0}
    # the embedding plot names the features it shows: the start θ's, where it said "the adapted network θ′"
    title = json.loads(embedding["plot"])["layout"]["title"]["text"]
    assert "meta-learned start θ (no step taken)" in title and "θ′" not in title, title
    embedding = client.predict("maml", "cpu", 1, 0.4, 0, NO_PAGE, api_name="/run_adaptation")[1]
    assert "adapted network θ′" in json.loads(embedding["plot"])["layout"]["title"]["text"]


def test_chinese_errors_say_what_is_wrong_with_a_photo():
    """A flat-colour photo and a blank drawing are refused for different reasons, in Chinese too;
    a method named in a refusal is named in Chinese."""
    import app
    from fewshot.preprocess import ImageInputError, prepare
    from fewshot.service import ModelZoo, TaskError

    white = np.full((84, 84, 3), 255, dtype=np.uint8)
    with pytest.raises(ImageInputError) as photo:
        prepare(white, "photos", name="white.png")
    with pytest.raises(ImageInputError) as drawing:
        prepare(white, "characters", name="white.png")
    assert app.worded(photo.value, "zh") == "white.png 是单一的纯色图像。"
    assert "笔画" in app.worded(drawing.value, "zh")
    with pytest.raises(TaskError) as wide:
        ModelZoo.for_domain("photos").checkpoint("maml", 10, 1)
    assert wide.value.values["key"] == "maml"  # the method, by key, for the front end to name
    # and what would serve (MAML, the method the page starts with, was a dead end for 6 photo classes)
    assert str(wide.value) == ("No trained MAML checkpoint can serve a 10-way task. It serves at most 5 classes. "
                               "These methods can: Siamese network, Matching Networks, Prototypical Networks, "
                               "Transfer learning.")
    assert app.worded(wide.value, "zh") == ("没有能处理 10 个类别任务的 MAML 检查点。它最多处理 5 个类别。"
                                            "可以处理的方法：孪生网络、匹配网络、原型网络、迁移学习。")
    named = TaskError("No trained Prototypical Networks checkpoint ...", "no_checkpoint",
                      method="Prototypical Networks", key="protonet", ways=30)
    assert app.worded(named, "zh") == "没有能处理 30 个类别任务的原型网络检查点。"
    named = TaskError("No trained MAML checkpoint ...", "no_checkpoint", method="MAML", key="maml", ways=30)
    assert app.worded(named, "zh") == "没有能处理 30 个类别任务的 MAML 检查点。"


def test_images_refused_together_are_said_once_each_in_sentences(tmp_path):
    """Each image refused is named once ("Skipped huge.png: huge.png is…" named it twice), and
    the refusals follow one another as sentences do in the page's language (a space between
    Chinese ones once)."""
    from types import SimpleNamespace

    from PIL import Image

    import app

    blank, text = tmp_path / "blank.png", tmp_path / "notes.png"
    Image.new("L", (64, 64), 255).save(blank)
    text.write_text("not an image")
    task = app.empty_task()
    for lang, between in (("en", " "), ("zh", "")):
        request = SimpleNamespace(headers={"cookie": f"app_lang={lang}"})
        status = app.add_images(task, "__new__", "x", [str(blank), str(text)], None, None, request)[-1]
        one, two = (app.worded(error, lang) for error in (refusal(blank), refusal(text)))
        skipped = app.say(lang, "skipped_named", why="")
        assert status == f"⚠ {app.plain(skipped + one + between + skipped + two)}", status
        assert status.count("blank.png") == 1 and status.count("notes.png") == 1, status


def refusal(path):
    """The ImageInputError that reading ``path`` as a character raises."""
    from fewshot.preprocess import ImageInputError, prepare

    with pytest.raises(ImageInputError) as raised:
        prepare(str(path), "characters", name=Path(path).name)
    return raised.value


def test_published_figures_are_cited_in_the_pages_language():
    """Compare's published column: on a Chinese page no English words are left around the
    authors' names (it once read "Koch et al.'s network, in Finn et al. 2017" there)."""
    import re

    import app
    from fewshot.published import SHORT_SOURCES, SOURCES

    shorts = {SHORT_SOURCES.get(key, source) for key, source in SOURCES.items()}
    names = {"Koch", "Finn", "Vinyals", "Snell", "Ravi", "Larochelle", "Chen"}
    for short in shorts:
        assert app.source_words(short, "en") == short
        words = set(re.findall(r"[A-Za-z]+", app.source_words(short, "zh")))
        assert words <= names, (short, words - names)
    recorded = {"accuracy": 0.971, "ci95": 0.003,
                "published": {"accuracy": 97.3, "interval": 0, "short": SHORT_SOURCES["omniglot", "siamese"]}}
    assert app.benchmark_cells(recorded, "zh") == ("97.1 ± 0.3", "97.3 (Koch 等的网络，见 Finn 等 2017)")


def test_images_sent_twice_by_a_double_click_join_once():
    """A double click on Add sent the drawing (or the uploads) twice before the browser cleared the
    boxes (which it does after the first answer): the class got two copies of each. The second press
    is ignored, every output left as the first one set it; a new drawing, or the same drawing with
    new files, still joins."""
    import gradio as gr
    from PIL import Image

    import app

    glyphs = sorted((ROOT / "demo" / "glyphs-5way" / "support" / "eye").glob("*.png"))
    drawings = [{"composite": np.asarray(Image.open(g).convert("RGBA"))} for g in glyphs[:2]]
    task, menu, name, *_, status = app.add_images(app.empty_task(), "__new__", "eye", None, drawings[0], None, None)
    assert status == "Added the new class “eye” with 1 image(s)." and len(task["classes"][0]["images"]) == 1
    again = app.add_images(task, menu["value"], name, None, drawings[0], None, None)
    assert again == (gr.skip(),) * 6
    task, *_ = app.add_images(task, menu["value"], name, None, drawings[1], None, None)
    assert len(task["classes"][0]["images"]) == 2
    task, *_ = app.add_images(task, "0", name, [str(glyphs[2])], drawings[1], None, None)
    assert len(task["classes"][0]["images"]) == 4
    # uploads are known by the page's mark of what its boxes hold, new at each change of them: the
    # same mark again is a double click; a new one (the same file uploaded again on purpose, which
    # Gradio stores at the same path) joins, and an API client, which sends no mark, is never refused
    task, *_ = app.add_images(task, "0", name, [str(glyphs[3])], None, None, None, "", "m1")
    assert len(task["classes"][0]["images"]) == 5
    assert app.add_images(task, "0", name, [str(glyphs[3])], None, None, None, "", "m1") == (gr.skip(),) * 6
    task, *_ = app.add_images(task, "0", name, [str(glyphs[3])], None, None, None, "", "m2")
    assert len(task["classes"][0]["images"]) == 6
    task, *_ = app.add_images(task, "0", name, [str(glyphs[3])], drawings[0], None, None, "", "m3")
    assert len(task["classes"][0]["images"]) == 8
    assert app.add_images(task, "0", name, [str(glyphs[3])], drawings[0], None, None, "", "m3") == (gr.skip(),) * 6
    for _ in range(2):
        task, *_ = app.add_images(task, "0", name, [str(glyphs[3])], None, None, None)
    assert len(task["classes"][0]["images"]) == 10
    # the Class menu takes any value (see app.chosen_class): one that names no class of the task is
    # refused as no class chosen, not an IndexError or a ValueError's trace ("²" passed isdigit and
    # failed int; a full-width "１" chose a class the menu did not show); a class's name typed in it
    # names that class
    assert [app.chosen_class(task, c) for c in ("0", "EYE", " eye ")] == [0, 0, 0]
    for choice in ("3", "abc", "__new__", None, "²", "１", "٠", ""):
        assert app.rename_class(task, choice, "new name", None)[-1].startswith("⚠ Choose a class first"), choice
        assert app.remove_class(task, choice, None)[-1].startswith("⚠ Choose a class first"), choice
        refused = app.add_images(task, choice, "", [str(glyphs[3])], None, None, None)
        assert refused[-1] == "⚠ Give the class a name first.", choice
    # (and on the Compare tab, a dash where no result was recorded or no figure published)
    assert app.benchmark_cells(None) == ("—", "—")
    assert app.benchmark_cells({"accuracy": 0.5, "ci95": 0.01, "published": None}) == ("50.0 ± 1.0", "—")


def test_an_image_added_to_a_second_class_is_pointed_out(monkeypatch):
    """The same image in two classes (the same file again, or the same drawing) was taken without
    a word, and a query like it came out split between the two classes. It is still added (a
    teacher may show this on purpose), with a warning naming the other class; an image already in
    its own class, or one that only looks alike, is not warned about."""
    from types import SimpleNamespace

    from PIL import Image

    import app

    warned = []
    monkeypatch.setattr(app, "warn", warned.append)
    glyphs = sorted((ROOT / "demo" / "glyphs-5way" / "support" / "eye").glob("*.png"))
    drawing = {"composite": np.asarray(Image.open(glyphs[1]).convert("RGBA"))}
    task, *_ = app.add_images(app.empty_task(), "__new__", "eye", [str(glyphs[0])], drawing, None, None)
    task, *_ = app.add_images(task, "0", "", [str(glyphs[0])], None, None, None)  # (its own class)
    task, *_ = app.add_images(task, "__new__", "ring", [str(glyphs[2])], None, None, None)
    assert warned == [] and [len(c["images"]) for c in task["classes"]] == [3, 1]
    task, *_, status = app.add_images(task, "1", "", [str(glyphs[0]), str(glyphs[3])], dict(drawing), None, None)
    assert [len(c["images"]) for c in task["classes"]] == [3, 4] and status == "Added 3 image(s) to “ring”."
    assert warned == [f"{glyphs[0].name} is also in “eye”: the same image in two classes leaves a query like it "
                      "torn between them (each method reads them alike).",
                      f"{app.DRAWING} is also in “eye”: the same image in two classes leaves a query like it "
                      "torn between them (each method reads them alike)."]
    warned.clear()
    chinese = SimpleNamespace(headers={"cookie": "app_lang=zh"})
    app.add_images(task, "__new__", "三", [str(glyphs[2])], None, None, chinese)
    assert len(warned) == 1 and warned[0].startswith(f"{glyphs[2].name} 也在“ring”中：")


def test_the_replay_in_words_names_the_queries_gone_wrong():
    """The replay's heatmap has a text alternative: after the step the slider shows (the recorded
    step nearest it), how many queries are right, and the first five wrong ones with the class
    each went to and its probability; a task without labels gets each query's class."""
    rows = [[0.9, 0.1], [0.3, 0.7]] * 4  # (queries 1, 3, 5, 7 go to b; all are a's)
    state = {"probabilities": [[[0.5, 0.5]] * 8, rows], "steps": [0, 5], "classes": ["a", "b*"],
             "queries": [f"q{i}" for i in range(8)], "labels": [0] * 8, "lang": "en"}
    assert seen_replay(4, state) == "After step 5: 4 of 8 queries right. Wrong: q1 → b\\* (70%); q3 → b\\* " \
        "(70%); q5 → b\\* (70%); q7 → b\\* (70%)."
    assert seen_replay(5, state, most=2).endswith("q3 → b\\* (70%); and 2 more.")
    # step 0 is the start, before any step ("After step 0" said a step had been taken)
    assert seen_replay(None, state).startswith("Before adapting (step 0): 8 of 8 queries right.")  # (ties: the first)
    assert seen_replay(0, {**state, "lang": "zh"}).startswith("适应前（第 0 步）：8 个查询中 8 个正确。")
    assert seen_replay(5, {**state, "labels": [1] * 8}) == "After step 5: 4 of 8 queries right. Wrong: " \
        "q0 → a (90%); q2 → a (90%); q4 → a (90%); q6 → a (90%)."
    assert "more" not in seen_replay(5, {**state, "labels": [1] * 8}, most=4)  # (four wrong: no "and 0 more")
    assert seen_replay(5, {**state, "labels": None}, most=2) == \
        "After step 5: q0 → a (90%); q1 → b\\* (70%); and 6 more."
    assert seen_replay(5, {**state, "lang": "zh"}).startswith("第 5 步之后：8 个查询中 4 个正确。错误：q1 → b\\*（70%）；q3")
    assert seen_replay(3, None) == ""


def test_the_replay_heatmap_is_asked_for_only_when_a_person_moves_the_slider():
    """Found by a performance audit: Adapt answers with the replay's slider and its heatmap together,
    and the slider's change there asked the server for the same heatmap again (a round trip and
    15 kB each MAML Adapt of the 5-way example). The heatmap follows a person's moves."""
    import app

    fn = next(fn for fn in app.demo.fns.values() if fn.name == "replay_step")
    assert [event for _, event in fn.targets] == ["input"]
    # the last of quick moves is drawn (as .change's always_last did): with an input's default,
    # "once", the moves made while a heatmap was on its way were dropped (three quick left arrows:
    # the slider at step 0, its heatmap and words of step 1)
    assert fn.trigger_mode == "always_last"


def test_the_why_plot_follows_the_last_of_quick_clicks_on_the_queries():
    """Found by a classroom of four real pages on one server: a query's thumbnail clicked while the
    previous one's "Why" was on its way was dropped (a select's default trigger mode, "once"), and
    the gallery highlighted a query that the label, the plot and its words were not of (three
    clicks back to back in Chromium: 1 of 24 tries, still so 30 s later; 0 of 24 after, and 0 of 32
    in four pages at once).
    Every click is answered, one at a time, in the order made."""
    import app

    fn = next(fn for fn in app.demo.fns.values() if fn.name == "select_query")
    assert [event for _, event in fn.targets] == ["select"]
    # (not always_last: Gradio runs the deferred event again with the first click's index)
    assert fn.trigger_mode == "multiple" and fn.concurrency_limit == 1


def test_task_edits_at_their_edges():
    """Found missing by a mutation test of app.py: the class past the most is refused at Add (not
    only later, at Adapt); a menu value one past the last class names no class (an IndexError's
    bare "Error" otherwise); a class may be renamed to its own name in another case; an image
    removed from a class that keeps one says nothing of an empty class."""
    import gradio as gr

    import app

    glyphs = [str(g) for g in sorted((DEMO / "support" / "eye").glob("*.png"))]
    task = app.empty_task()
    for k in range(app.MAX_WAYS):
        task, *_ = app.add_images(task, "__new__", f"c{k}", glyphs[:2], None, None, None)
    assert len(task["classes"]) == app.MAX_WAYS
    refused = app.add_images(task, "__new__", "one more", glyphs[:1], None, None, None)
    assert refused[:-1] == (gr.skip(),) * 5 and refused[-1] == f"⚠ At most {app.MAX_WAYS} classes are supported."
    past = str(app.MAX_WAYS)
    assert app.rename_class(task, past, "x", None)[-1] == "⚠ Choose a class first."
    assert app.remove_class(task, past, None)[-1] == "⚠ Choose a class first."
    assert app.add_images(task, past, "", glyphs[:1], None, None, None)[-1] == "⚠ Give the class a name first."
    task, _, status = app.rename_class(task, "0", "C0", None)
    assert status == "Renamed “c0” to “C0”." and task["classes"][0]["name"] == "C0"
    # (the class that has the name, as it is written: "C1" typed, “c1” exists)
    assert app.rename_class(task, "0", "C1", None)[-1] == "⚠ A class called “c1” already exists."
    task, status = app.drop_image(task, 0, 1, None)
    assert status == "Removed an image from “C0”; 1 left.", status
    task, status = app.drop_image(task, 0, 0, None)
    assert status == "Removed an image from “C0”; 0 left. A class needs an image: add one, or remove the class."
    assert app.drop_image(task, 1, None, None)[-1] == "⚠ Click an image first, then remove it."


def test_the_request_check_reads_a_large_body_no_further_than_its_limit():
    """Events and /classify calls carry files' names, not files: the middleware reads a body up to
    RequestCheck.MOST bytes (it read any body whole, in time growing with the square of its size:
    100 MB took 17 s of CPU) and hands Gradio what it read, then the rest as the client sends it."""
    import asyncio

    import app

    chunk = b"x" * (app.RequestCheck.MOST // 2 + 1)
    sent = [{"type": "http.request", "body": chunk, "more_body": n < 4} for n in range(5)]
    pulled, got = [], []

    async def receive():
        pulled.append(sent[len(pulled)])
        return pulled[-1]

    async def gradio(scope, receive, send):
        got.append(len(pulled))  # what the check had read when Gradio was called
        while True:
            message = await receive()
            got.append(message["body"])
            if not message["more_body"]:
                return

    scope = {"type": "http", "path": "/gradio_api/queue/join", "method": "POST", "headers": []}
    asyncio.run(app.RequestCheck(gradio)(scope, receive, None))
    assert got[0] == 2 and got[1] == chunk * 2 and b"".join(got[1:]) == chunk * 5


@pytest.mark.parametrize("served", ["mount", "root_path"])
def test_the_request_check_reads_paths_under_the_prefix_the_app_is_served_at(served):
    """Served under a prefix, by ``gr.mount_gradio_app(host, demo, path="/fewshot")`` or with
    ``GRADIO_ROOT_PATH=/fewshot`` behind a proxy that passes the prefix on, a request's path starts
    with the prefix: the check took "/fewshot/gradio_api/call/classify" for no path of its own and
    passed everything to Gradio unchecked, so a plain HTTP call that left out ``domain``, as the
    README allows, failed in Gradio ("didn't receive enough input values"), and one missing more
    got no 422. (A proxy that strips the prefix sends the path without it, as before.)"""
    import fastapi
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Mount, Route
    from starlette.responses import JSONResponse
    from starlette.testclient import TestClient

    import app

    passed = []

    async def gradio(request):  # (stands for Gradio's route: what the check let through)
        passed.append(await request.json())
        return JSONResponse({"event_id": "x"})

    paths = ["/fewshot/gradio_api/call/classify"]
    if served == "mount":  # (Starlette's Mount, as mount_gradio_app mounts Gradio's app)
        gradio_app = Starlette(routes=[Route("/gradio_api/call/classify", gradio, methods=["POST"])],
                               middleware=[Middleware(app.RequestCheck)])
        host = Starlette(routes=[Mount("/fewshot", app=gradio_app)])
    else:  # (Gradio's app with its root_path set, as GRADIO_ROOT_PATH sets it)
        host = fastapi.FastAPI(middleware=[Middleware(app.RequestCheck)])
        host.root_path = "/fewshot"
        host.add_route("/gradio_api/call/classify", gradio, methods=["POST"])
        paths.append("/gradio_api/call/classify")  # (from a proxy that strips the prefix)
    client = TestClient(host)
    for path in paths:
        answer = client.post(path, json={"data": ["protonet"]})
        assert answer.status_code == 422 and "missing: support_images, class_names, query_images." in \
            answer.json()["error"], (path, answer.text)
        answer = client.post(path, json={"data": ["protonet", [], [], []]})  # (domain left out)
        assert answer.status_code == 200 and passed[-1] == {"data": ["protonet", [], [], [], "characters"]}, \
            (path, passed)


def test_the_app_mounted_in_another_fastapi_app_is_served_as_launched():
    """``app.mount(host, "/fewshot")`` serves the app inside another FastAPI app with what
    ``launch`` gives it; a bare ``gr.mount_gradio_app`` served a page without the app's script and
    style (no Chinese labels, no visible keyboard focus), its API calls unchecked, and the
    examples' images refused when the host runs from another folder."""
    import fastapi
    from starlette.testclient import TestClient

    import app

    host = fastapi.FastAPI()
    assert app.mount(host, "/fewshot") is host
    with TestClient(host) as client:
        config = client.get("/fewshot/config").json()
        assert config["css"] == app.CSS and "(12) Plotly, once the page is idle" in config["js"]
        assert config["i18n_translations"]["zh"]["app_tab_task"] == app.ZH["app_tab_task"]
        answer = client.post("/fewshot/gradio_api/call/classify", json={"data": ["protonet"]})
        assert answer.status_code == 422 and "missing: support_images" in answer.json()["error"], answer.text
        image = app.DEMO / "glyphs-3way" / "query" / "flag" / "1.png"
        assert client.get(f"/fewshot/gradio_api/file={image}").content == image.read_bytes()


def test_examples_show_when_the_app_is_started_from_another_folder(tmp_path):
    """``python /path/to/app.py`` started from a folder outside the project (a service, a
    container's WORKDIR): Gradio sends the browser only files under the working folder, the temp
    folder and ``allowed_paths``, and refused the examples' images ("Cannot move
    …/demo/glyphs-3way/query/flag/1.png to the gradio cache dir"): the task view stayed empty and
    Classify failed."""
    from .app_server import AppServer

    (tmp_path / "tmp").mkdir()  # (a temp folder the project is not in, as on most machines)
    server = AppServer(env={"TMPDIR": str(tmp_path / "tmp")}, cwd=tmp_path)
    try:
        client = Client(server.url, verbose=False)
        assert client.predict("glyphs-3way", api_name="/load_example")[-2].startswith("Loaded glyphs-3way")
        status = client.predict("protonet", "cpu", 3, 0.4, None, None, None, 0, NO_PAGE,
                                api_name="/classify_queries")[-1]
        assert status.startswith("Classified 9 image(s)"), status
    finally:
        server.stop()


def test_a_stale_remove_button_removes_nothing():
    """A second press of a thumbnail's Remove button drawn before the first one's answer (a double
    click) found the next image in the selected one's place, and removed it too."""
    import app

    task = app.example_task(app.DEMO / "glyphs-3way")
    drawn = [img["path"] for img in task["classes"][0]["images"]]
    task, status = app.drop_image(task, 0, 1, None, "", drawn[1])
    assert status == "Removed an image from “flag”; 4 left."
    assert app.drop_image(task, 0, 1, None, "", drawn[1])[-1] == "⚠ Click an image first, then remove it."
    assert app.drop_image(task, 0, 9, None)[-1] == "⚠ Click an image first, then remove it."
    assert app.drop_image(task, 5, 0, None)[-1] == "⚠ Click an image first, then remove it."
    task, status = app.drop_image(task, 0, 1, None, "", drawn[2])  # (the next image, selected anew)
    assert status == "Removed an image from “flag”; 3 left."


def test_the_label_explains_a_drawing_classified_beside_uploads(tmp_path):
    """A drawing classified beside uploads (the pad is cleared once classified, uploads stay) is the
    query the label explains and the gallery selects; an upload called drawing.png is an upload."""
    import shutil

    from PIL import Image

    import app

    task = app.example_task(app.DEMO / "glyphs-3way")
    glyphs = sorted((DEMO / "query" / "eye").glob("*.png"))
    named = str(shutil.copy(glyphs[1], tmp_path / "drawing.png"))
    drawing = {"composite": np.asarray(Image.open(glyphs[2]).convert("RGBA"))}
    for files, sketch, first in (([str(glyphs[0]), named], None, 0), ([str(glyphs[0]), named], drawing, 2),
                                 (None, drawing, 0)):
        label, gallery, *_ = app.classify_queries(task, "protonet", "cpu", 3, 0.4, files, sketch, None, 0, None)
        assert gallery["selected_index"] == first and len(gallery["value"]) == len(files or []) + (sketch is not None)


def adapted(task, method, curves=None, steps=3, lr=0.4):
    """The Adapt tab's last answer for ``method`` on ``task`` (run_adaptation, called as the page does)."""
    import app

    *_, last = app.run_adaptation(task, method, "cpu", steps, lr, curves or {}, 0, None)
    return dict(zip(("curve", "embedding", "embedding_words", "matrix", "matrix_words", "status", "replay",
                     "replay_plot", "replay_words", "replay_state", "curves", "key"), last))


def test_a_transfer_heads_curve_is_drawn_every_20_steps_and_whole_at_the_end():
    """Transfer learning fits its head in about 0.1 s, and its curve has 21 records (every 5th of
    100 steps): drawn as it grows at each (22 figures), the page took 5-9 s on 2 cores, each figure
    built, sent and drawn again. It grows every 20 steps; the last answer draws all 21 records."""
    import app

    task = app.example_task(app.DEMO / "glyphs-3way")
    answers = list(app.run_adaptation(task, "transfer", "cpu", 3, 0.4, {}, 0, None))
    growing = [answer[0]["value"] for answer in answers[:-1]]
    assert [len(figure.data[0].x) for figure in growing] == [1, 5, 9, 13, 17, 21], len(answers)
    final = answers[-1][0]["value"]
    assert list(final.data[0].x) == list(range(0, 101, 5))


def test_what_the_adapt_tab_shows_is_the_run_it_describes():
    """Found unguarded by a second mutation test of app.py: the replay's first heatmap and each
    step's are that step's probabilities; the curve in words is the meta-learned curve's, then the
    random start's; MAML adapts with the α the slider shows; Meta-LSTM's curve is kept and drawn
    once beside MAML's, with its query accuracy; raw pixels adapt (their matrix's label once raised
    a KeyError) with prototypes, as Prototypical Networks do; a refusal of the library (TaskError)
    is worded, not Gradio's bare "Error"."""
    import app

    task = app.example_task(app.DEMO / "glyphs-3way")
    maml = adapted(task, "maml", steps=4, lr=0.25)
    state = maml["replay_state"]
    assert state["steps"] == [0, 1, 2, 3, 4]
    first = maml["replay_plot"]["value"]
    assert first.layout.title.text.endswith("after step 4") and np.allclose(first.data[0].z, state["probabilities"][-1])
    for k in (0, 2):
        assert np.allclose(app.replay_step(k, state)[0].data[0].z, state["probabilities"][k])
    traces = {t.name: t.y for t in maml["curve"]["value"].data}
    own = [f"{k}: {a:.0%}" for k, a in enumerate(traces["query accuracy · meta-learned θ"])]
    start = [f"{k}: {a:.0%}" for k, a in enumerate(traces["query accuracy · random initialisation"])]
    assert f"(the curve in words): {' → '.join(own)}." in maml["status"], maml["status"]
    assert f"From a random start: {' → '.join(start)}." in maml["status"], maml["status"]
    assert app.adaptation_options("maml", "characters", "cpu", 4, 0.25, 0) == {"device": "cpu", "steps": 4, "lr": 0.25}
    assert app.adaptation_options("siamese", "photos", "cpu", 4, 0.25, 7) == {"device": "cpu"}  # (no slider there)
    assert app.adaptation_options("siamese", "characters", "cpu", 4, 0.25, 7) == {"device": "cpu", "steps": 7}
    lstm = adapted(task, "meta-lstm")
    assert all("query_accuracy" in r for r in lstm["curves"]["meta-lstm"]) and len(lstm["curves"]["meta-lstm"]) > 1
    both = adapted(task, "maml", curves=lstm["curves"])
    curves = ("support loss", "query loss", "support accuracy", "query accuracy")
    names = [t.name for t in both["curve"]["value"].data if t.name]
    assert [n for n in names if "Meta-LSTM" in n] == [f"{c} · Meta-LSTM" for c in curves], names
    again = adapted(task, "maml", curves=both["curves"])  # (its own curve once, not again as "the other")
    assert [t.name for t in again["curve"]["value"].data if "MAML" in (t.name or "")] == [f"{c} · MAML" for c in curves]
    pixels = adapted(task, "pixels")
    assert pixels["matrix"]["label"] == "Squared distances to the prototypes" and "No learning" in pixels["status"]
    legend = [t.name for t in pixels["embedding"].data if t.name]  # (the legend's swatches)
    assert "prototype" in legend and "class mean" not in legend, legend
    photos = {**task, "domain": "photos", "classes": [dict(c, name=f"{c['name']}{k}") for k in range(2)
                                                       for c in task["classes"]]}  # 6-way: MAML's photo network is 5-way
    if "photos" in app.DOMAINS:
        refused = adapted(photos, "maml")["status"]  # (worded as a warning: it was Gradio's bare "Error")
        assert refused.startswith("⚠ No trained MAML checkpoint can serve a 6-way task. It serves at most 5 "
                                  "classes. These methods can"), refused
    json.dumps(state)  # (the replay lives in the session: plain values only)


def test_compares_note_on_one_task_counts_a_chance_difference_in_queries():
    """Compare's note said that "a few points" between two methods may be chance beside "one query
    is 6.7 points": on the examples' 15 queries two methods differ by 0, 6.7 or 13.3 points, never
    by a few, so a difference of one query read as more than chance. It counts it in queries (and
    says "one query" where a task has one, not "1 queries")."""
    import app

    for q in (15, 100):
        english = app.say("en", "one_task", q=q, point=100 / q, episodes=1000)
        assert "a difference of a query or two between two methods here may be chance" in english, english
        assert "a few points" not in english
        chinese = app.say("zh", "one_task", q=q, point=100 / q, episodes=1000)
        assert "这里两种方法相差一两个查询，可能只是偶然" in chinese and "几个百分点" not in chinese, chinese
    # one query (a hand-made archive can hold one): "1 queries" and "100.0 points" read as a slip
    task = app.example_task(app.DEMO / "glyphs-3way")
    task = {**task, "queries": task["queries"][:1]}
    *_, (table, status, _) = app.compare_methods(task, "cpu", None)
    assert "This task has one query, so its accuracy is 0 or 100" in status and "1 queries" not in status, status
    assert "这个任务只有一个查询" in app.say("zh", "one_query", episodes=1000)


def test_the_classify_and_compare_tabs_say_what_they_show():
    """Found unguarded by a second mutation test of app.py: a clicked query is the one explained
    (the wiring too: label, then plot); titles count queries from 1 and MAML's steps from 0; a
    refused Compare row and its citation are in the page's language; Clear keeps the domain; a
    webcam picture is named as one; the random task's line says its ways; an upload's path is
    checked once resolved (".." led out of the upload folder); the Learn tab names the photo
    transfer head the card says."""
    from types import SimpleNamespace

    import app
    from fewshot.service import TaskError

    task = app.example_task(app.DEMO / "glyphs-3way")
    *_, state, _ = app.classify_queries(task, "maml", "cpu", 3, 0.4, None, None, None, 0, None)
    label, plot, words = app.select_query(state, SimpleNamespace(index=2))
    assert words == app.plot_words(plot) and words.startswith("Query 3, "), words
    assert label == {n: p for n, p in zip(state["classes"], state["probabilities"][2])}
    assert plot.layout.title.text.startswith("query 3"), plot.layout.title.text
    assert list(plot.layout.yaxis.ticktext) == ["step 0", "step 1", "step 2", "step 3"]
    outputs = next(fn.outputs for fn in app.demo.fns.values() if fn.name == "select_query")
    assert [type(o).__name__ for o in outputs] == ["Label", "Plot", "Markdown"]
    assert app.explain_query(0, state)[1].layout.title.text.startswith("query 1")
    row = app.refused_row("MAML", TaskError("Give at least one query image.", "no_queries"), "zh")
    assert row[1] == app.ERRORS_ZH["no_queries"], row
    assert "等 2017" in app.source_words("Snell et al. 2017", "zh"), app.source_words("Snell et al. 2017", "zh")
    if "photos" in app.DOMAINS:
        assert app.clear_task("photos", None)[0]["domain"] == "photos"
    camera = str(sorted((DEMO / "support" / "eye").glob("*.png"))[0])
    assert app.gather_inputs(None, None, camera) == [(camera, app.WEBCAM)]
    if app.can_sample("characters"):
        assert app.sample_omniglot(5, 1, None)[3].startswith("Sampled 5 held-out test characters")
    from gradio.utils import get_upload_folder

    assert not app.uploaded(str(Path(get_upload_folder()) / ".." / ".." / "etc" / "passwd"))
    for domain in app.DOMAINS:
        card = app.read_card(app.ZOOS[domain].checkpoint("transfer", app.MIN_WAYS, 1))
        head = "Baseline++" if card.get("config", {}).get("head") == "cosine" else "Baseline"
        name = app.EN[f"app_domain_{domain}"].split(" (")[0]
        assert f"{name}: {head}" in " ".join(app.checkpoint_facts("en").values()), (domain, head)


def test_every_refusal_answers_each_output_of_its_event_and_words_it_in_a_status():
    """``friendly(outputs, status)``'s counts are written by hand beside each handler: one fewer
    than its event's outputs (an output added later) is Gradio's ValueError and a trace, where a
    person should read why their input was refused; the status it writes to is a Markdown line."""
    import gradio as gr

    import app

    checked = []
    for fn in app.demo.fns.values():
        counts = getattr(fn.fn, "refusal_outputs", None)
        if counts is not None:
            outputs, status = counts
            assert outputs == len(fn.outputs), fn.name
            assert status is None or isinstance(fn.outputs[status], gr.Markdown), fn.name
            checked.append(fn.name)
    assert {"add_images", "run_adaptation", "classify_queries", "compare_methods"} <= set(checked), checked


def test_a_run_refused_on_a_new_page_leaves_its_results_as_they_were():
    """Adapt, Classify or Compare pressed on a new page (no task made yet: the state is None) is
    refused, and the out-of-date check that follows every run leaves each output as it was: it
    read the task's key of None, and Gradio marked every output of the tab with "Error"."""
    import gradio as gr

    import app

    outputs = {fn.name: len(fn.outputs) for fn in app.demo.fns.values()}
    assert app.outdated_results(None, "maml", None, None, None, None) == (gr.skip(),) * outputs["outdated_results"]


def test_early_answers_fill_every_output_of_their_event():
    """A handler that leaves its outputs as they were answers one skip per output of its event
    (one fewer: Gradio's ValueError, a toast on the page and a trace in the log, when a method
    was picked before any adaptation). The tabs that never showed a result say nothing when the
    task changes (each once said "The task has changed: adapt again" at the first load)."""
    import gradio as gr
    from PIL import Image

    import app

    outputs = {fn.name: len(fn.outputs) for fn in app.demo.fns.values()}
    task = app.example_task(app.DEMO / "glyphs-3way")
    assert app.outdated_adaptation(None, None) == (gr.skip(),) * outputs["outdated_adaptation"]
    assert len(app.outdated_adaptation("an older task", None)) == outputs["outdated_adaptation"]
    # the method changed, then the task: the Adapt tab says that the task has changed (it kept "the
    # method has changed", of a task no longer there)
    example, other = app.example_task(app.DEMO / "glyphs-3way"), app.example_task(app.DEMO / "glyphs-5way")
    adapted_for = app.adaptation_key(example, "protonet")
    method_changed = app.outdated_adaptation(adapted_for, None)
    assert method_changed[5] == "The method has changed: adapt again." and method_changed[-1] == gr.skip()
    task_changed = app.outdated_results(other, "maml", adapted_for, None, None, None)
    assert task_changed[5] == "The task has changed: adapt again." and task_changed[10] is None
    assert app.outdated_results(task, "maml", None, None, None, None) == (gr.skip(),) * outputs["outdated_results"]
    key = app.task_key(task)
    assert app.outdated_results(task, "maml", app.adaptation_key(task, "maml"), key, key, None) == \
        (gr.skip(),) * outputs["outdated_results"]
    stale = app.outdated_results(task, "maml", "an older task", None, None, None)
    assert len(stale) == outputs["outdated_results"] and "task has changed" in stale[5], stale[5]
    assert stale[1:3] == (None, "") and stale[8] == ""  # the embedding and replay, their words too
    assert stale[11:] == (gr.skip(),) * (outputs["outdated_results"] - 11)  # (Classify and Compare untouched)
    drawing = {"composite": np.asarray(Image.open(task["classes"][0]["images"][0]["path"]).convert("RGBA"))}
    task, *_ = app.add_images(task, "0", "", None, drawing, None, None)
    assert app.add_images(task, "0", "", None, drawing, None, None) == (gr.skip(),) * outputs["add_images"]


def test_the_maml_sliders_follow_the_checkpoint_of_the_fewest_shots():
    """A task served by the 1-shot checkpoint (its fewest images per class: one) keeps that
    checkpoint's sliders when one class gets more images; the most per class once chose the
    5-shot checkpoint, resetting the steps and α a person had chosen."""
    import app
    from fewshot.service import adaptation_defaults

    task = app.example_task(app.DEMO / "glyphs-3way")
    task["classes"] = [dict(c, images=c["images"][:1]) for c in task["classes"]]
    task["classes"][0]["images"] = app.example_task(app.DEMO / "glyphs-3way")["classes"][0]["images"]
    one_shot = adaptation_defaults(app.zoo_of(task), "maml", 3, 1)
    assert one_shot["checkpoint"] != adaptation_defaults(app.zoo_of(task), "maml", 3, 5)["checkpoint"]
    assert app.maml_defaults(task, None) == (one_shot["steps"], one_shot["lr"], one_shot["checkpoint"])


def test_a_sampled_task_reads_its_support_images_as_the_dataset_does():
    """A sampled Omniglot task's support images are read as dataset images, as its queries are
    (read as drawings, they differed by up to 1.0 in every pixel's value)."""
    from types import SimpleNamespace

    import app

    if not app.can_sample("characters"):
        pytest.skip("no Omniglot here")
    task = app.sample_omniglot(5, 1, SimpleNamespace(headers={}))[0]
    sources = {img["source"] for c in task["classes"] for img in c["images"]}
    assert sources == {q["source"] for q in task["queries"]} and sources != {"upload"}, sources


def test_switching_domain_keeps_the_method_where_the_domain_has_it():
    """A domain switch keeps the chosen method where the new domain has it (a reset to MAML went
    unseen by the browser test that switches domain)."""
    import app

    if "photos" not in app.DOMAINS:
        pytest.skip("no photo models here")
    for method in app.ZOOS["photos"].available():
        assert app.set_domain(app.empty_task(), "photos", method, None)[1]["value"] == method


def test_a_chinese_page_gets_chinese_class_names_and_tab_title():
    """A sampled task (photos, characters) names its classes in the page's language; the browser
    tab's title (set by the page's script) is the heading in each language."""
    from types import SimpleNamespace

    import app
    from fewshot.data import MINI_IMAGENET_TEST_NAMES, OMNIGLOT_ALPHABETS_ZH

    for lang in ("zh", "en"):
        request = SimpleNamespace(headers={"cookie": f"app_lang={lang}"})
        if app.can_sample("photos"):
            task = app.sample_mini_imagenet(5, 1, request)[0]
            names = [c["name"] for c in task["classes"]]
            assert len(names) == 5 and set(names) <= set(MINI_IMAGENET_TEST_NAMES[lang].values()), names
        if app.can_sample("characters"):
            task = app.sample_omniglot(5, 1, request)[0]
            alphabets = [c["name"].rsplit(" #", 1)[0] for c in task["classes"]]
            known = set(OMNIGLOT_ALPHABETS_ZH.values()) if lang == "zh" else {a.replace("_", " ")
                                                                               for a in OMNIGLOT_ALPHABETS_ZH}
            assert len(alphabets) == 5 and set(alphabets) <= known, alphabets
    assert json.dumps({"en": "Few-shot learning: learning to learn", "zh": "小样本学习：学会学习"},
                      ensure_ascii=False) in app.APP_JS
    assert "document.title = titles[lang]" in app.APP_JS


def test_learn_tab_reads_the_checkpoints_facts_from_their_cards():
    """Which transfer head serves, and which photo networks kept their untouched start, come
    from the cards: no placeholder is left, and each named network did keep its start."""
    import app
    from fewshot.checkpoints import CHECKPOINT_DIR, kept_start, read_card

    for messages in (app.EN, app.ZH):
        assert "{transfer_heads}" not in messages["app_learn_md"] and "{photos_kept}" not in messages["app_learn_md"]
    learn = app.EN["app_learn_md"]
    assert "Characters: Baseline" in learn
    # the Siamese paragraph's words on each domain's loss are the cards' (characters: the active-pair
    # mean; photos: the plain mean over all different-class pairs), each half weighted alike
    assert "over all different-class pairs" in learn and "different-class pairs still\ncloser than the margin" in learn
    assert "the two averages weigh the same" in learn
    assert read_card(app.ZOOS["characters"].checkpoint("siamese", 5, 1))["config"]["loss"] == "contrastive-active"
    if "photos" in app.DOMAINS:
        assert read_card(app.ZOOS["photos"].checkpoint("siamese", 5, 1))["config"].get("loss", "contrastive") \
            == "contrastive"
    # Markdown shows a line break inside a paragraph as a space: none after Chinese punctuation,
    # whatever opens the next line (a bold word, a quotation mark, a Latin name)
    lines = app.ZH["app_learn_md"].split("\n")
    for previous, line in zip(lines, lines[1:]):
        if previous and line and not previous.startswith(("#", "$$")) and not line.startswith(("#", "$$", "- ")):
            assert previous[-1] not in "。，；：）、！？", (previous[-20:], line[:20])
    for name in app.ZOOS["photos"].served_kept_start() if "photos" in app.DOMAINS else []:
        assert f"`{name}`" in learn and kept_start(read_card(CHECKPOINT_DIR / name))


def test_the_fine_tuning_info_says_what_the_card_and_the_code_do():
    """The Siamese fine-tuning slider's info names the steps of the card's fine-tuned row and the
    rate and distorted copies ``SiameseNetwork.FINETUNE`` uses, in both languages (typed there:
    this test keeps them the code's and the card's)."""
    import app
    from fewshot.methods.siamese import SiameseNetwork

    recorded = app.ZOOS["characters"].recorded_accuracy("siamese", 5, 1, finetuned=True)
    steps = recorded["adapt_steps"]
    assert app.EN["app_finetune_info"].startswith(f"0: the network as meta-trained; {steps}: fine-tuned")
    assert app.ZH["app_finetune_info"].startswith(f"0：保持元训练得到的网络；{steps}：")
    assert SiameseNetwork.FINETUNE["lr"] == 1e-4
    assert "Adam at 10⁻⁴" in app.EN["app_finetune_info"] and "Adam、学习率 10⁻⁴" in app.ZH["app_finetune_info"]
    copies = SiameseNetwork.FINETUNE["copies_one_shot"]
    assert SiameseNetwork.FINETUNE["copies_k_shot"] == 0  # (the info says copies only at one image)
    assert f"{['no', 'one', 'two', 'three', 'four'][copies]} distorted copies of each when a class has one image" \
        in app.EN["app_finetune_info"]
    assert f"每张再加{'零一两三四'[copies]}个扭曲的副本" in app.ZH["app_finetune_info"]


def test_both_languages_say_everything_with_the_same_blanks():
    """Every message and interface text exists in English and Chinese, with the same {fields}
    to fill, and the interface's keys cannot collide with Gradio's own (prefixed app_)."""
    import string

    import app

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for en, zh in ((app.MESSAGES["en"], app.MESSAGES["zh"]), (app.EN, app.ZH)):
        assert en.keys() == zh.keys(), en.keys() ^ zh.keys()
        for key in en:
            if isinstance(en[key], str) and en is app.MESSAGES["en"]:
                assert fields(en[key]) == fields(zh[key]), key
    assert all(key.startswith("app_") for key in app.EN)


def test_every_refusal_of_the_library_is_worded_in_chinese():
    """Each coded error that ``fewshot/`` raises (``TaskError``, ``ImageInputError`` and its kinds,
    ``Error(message, "code", **values)``) has a Chinese wording whose blanks are among its values:
    found in the source, so that a refusal added later cannot reach a Chinese page in English."""
    import ast
    import string

    import app

    raised = []
    for path in sorted((ROOT / "fewshot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.endswith("Error")
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)):
                raised.append((f"{path.name}:{node.lineno}", node.args[1].value, {k.arg for k in node.keywords}))
    assert len(raised) >= 30 and {"too_many_shots", "too_many_queries", "blank"} <= {code for _, code, _ in raised}
    for where, code, values in raised:
        assert code in app.ERRORS_ZH, (where, code)
        blanks = {name for _, name, _, _ in string.Formatter().parse(app.ERRORS_ZH[code]) if name}
        assert blanks <= values, (where, code, blanks - values)


def test_a_file_that_is_no_image_is_told_the_formats_read_in_chinese_too(tmp_path):
    """The refusal of a file that is no image names the formats the app reads, on a Chinese page
    as on an English one (the Chinese said only "is not an image file that can be read")."""
    import app
    from fewshot.preprocess import ImageInputError, prepare_character

    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(ImageInputError) as refused:
        prepare_character(notes)
    for lang in ("en", "zh"):
        words = app.worded(refused.value, lang)
        assert "notes.txt" in words and all(kind in words for kind in ("PNG", "JPEG", "GIF", "WebP", "BMP", "TIFF")), words


def test_too_many_images_are_refused_in_the_app_and_the_api(app_server, client, tmp_path):
    """A class of more than 20 images, or more than 100 queries at once, is refused with a message
    before any image is read, in the Build tab (the class keeps what it had; the message says that
    the upload box holds the files put in it before too) and in /classify."""
    from app import plain  # (the status line is Markdown, its text escaped)
    from fewshot.service import MAX_QUERIES, MAX_SHOTS

    _, files, names, _ = support_set(1)
    session = Client(app_server.url, verbose=False)
    image = handle_file(files[0])
    session.predict("__new__", "eye", [image] * (MAX_SHOTS - 2), None, None, NO_PAGE, NO_MARK, api_name="/add_images")
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")  # refused by its count, not for what it is: none was read
    *_, status = session.predict("0", "", [handle_file(str(notes))] * 3, None, None, NO_PAGE, NO_MARK, api_name="/add_images")
    box = (" The upload box holds 3 file(s), those put in it before too: remove the ones you do not want (each has "
           "its ×; the box's corner empties it), then try again.")  # (it keeps the files of a refused add)
    assert status == "⚠ " + plain(f"A class can have at most {MAX_SHOTS} support images: “eye” would have "
                                  f"{MAX_SHOTS + 1}." + box)
    *_, status = session.predict("0", "", [image] * 2, None, None, NO_PAGE, NO_MARK, api_name="/add_images")
    assert status == "Added 2 image(s) to “eye”."
    too_many = [handle_file(str(notes))] * (MAX_QUERIES + 1)
    refusal = f"At most {MAX_QUERIES} query images can be classified at once; {MAX_QUERIES + 1} were given."
    *_, status = session.predict("protonet", "cpu", 3, 0.4, too_many, None, None, 0, NO_PAGE,
                                 api_name="/classify_queries")
    assert status == "⚠ " + plain(refusal + box.replace("3 file", f"{MAX_QUERIES + 1} file"))
    with pytest.raises(AppError) as caught:
        client.predict("protonet", [handle_file(f) for f in files], names, too_many, api_name="/classify")
    assert refusal in str(caught.value)


def test_the_documented_limits_are_the_enforced_ones():
    """/classify's description (what view_api shows) and the README's API paragraph state the
    limits as numbers: they are the ones the code enforces."""
    import app
    from fewshot.service import MAX_NAME, MAX_QUERIES, MAX_SHOTS, MAX_WAYS, MIN_WAYS

    readme = " ".join((ROOT / "README.md").read_text().split())
    for text in (" ".join(app.classify_api.__doc__.split()), readme):
        for stated in (f"at most {MAX_NAME} characters", f"{MIN_WAYS} to {MAX_WAYS}", f"at most {MAX_SHOTS} ",
                       f"at most {MAX_QUERIES}", f"at most {app.MAX_UPLOAD[:-2]} MB"):
            assert stated in text, stated
    assert app.MAX_UPLOAD == "100mb"  # (the size test's 104857600 bytes)


def test_an_upload_is_at_most_100_mb(client, tmp_path):
    """Gradio sets no limit on an upload's size (one file could fill a hosted Space's disk): the app
    sets 100 MiB, which the server enforces (HTTP 413, after saving that much: not sent here) and
    gradio_client, reading it from the app, checks before sending."""
    big = tmp_path / "big.png"
    with big.open("wb") as f:  # (sparse: the client refuses it without reading it)
        f.seek(100 * 2**20)
        f.write(b"\0")
    image = support_set(1)[1][0]
    with pytest.raises(ValueError, match="exceeds the maximum file size of 104857600 bytes"):
        client.predict("protonet", [handle_file(str(big)), handle_file(image)], ["a", "b"], [handle_file(image)],
                       api_name="/classify")


def test_headings_never_skip_a_level():
    """Under the page's one level-1 title, every text's headings start at level 2 and go down one
    level at a time (sections once jumped from the title straight to level 3: a screen reader's
    outline of the page had a gap), in both languages."""
    import re

    import app

    for texts in (app.EN, app.ZH):
        titles = 0
        for key, text in texts.items():
            levels = [len(m.group(1)) for m in re.finditer(r"(?m)^(#+) ", text)]
            titles += levels.count(1)
            for before, level in zip([1] + levels, levels):
                assert level <= before + 1 and (level > 1 or key == "app_title"), (key, levels)
        assert titles == 1


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_too_easy_note_offers_what_this_app_can_do(monkeypatch, lang):
    """Where the dataset is here, the note sends the person to a random task of it; where it is
    not (a hosted Space ships no data, and its sampling buttons are hidden), to classes that
    look alike."""
    import app

    for available in (True, False):
        monkeypatch.setattr(app, "omniglot_available", lambda: available)
        monkeypatch.setattr(app, "mini_imagenet_available", lambda: available)
        monkeypatch.setattr(app, "DOMAINS", ["characters", "photos"])
        for domain, dataset in (("characters", "Omniglot"), ("photos", "mini-ImageNet")):
            note = app.too_easy_note(domain, lang)
            assert note.startswith(app.say(lang, "too_easy"))
            assert (dataset in note) == available, note
            assert (app.say(lang, f"try_alike_{domain}") in note) == (not available), note


def test_siamese_fine_tuning_from_the_adapt_tab(app_server):
    """The Siamese network adapts as meta-trained by default (no curve); given fine-tuning
    steps (the last input of /run_adaptation and /classify_queries), its pair loss is drawn
    step by step and the queries are classified by the fine-tuned network."""
    client = Client(app_server.url, verbose=False)
    client.predict("glyphs-5way", api_name="/load_example")
    curve, embedding, _, matrix, _, status, *_ = client.predict("siamese", "cpu", 3, 0.4, 0, NO_PAGE,
                                                                api_name="/run_adaptation")
    assert curve["visible"] is False and "Fine-tuned" not in status, status
    # the embedding plot shows the codes h(x) that the distances are taken between (it said "f(x)",
    # in siamese.py's notation the Conv-4 features), and says when they are the fine-tuned network's
    title = json.loads(embedding["plot"])["layout"]["title"]["text"]
    assert "codes h(x), projected from the features f(x)" in title, title
    curve, embedding, _, matrix, _, status, *_ = client.predict("siamese", "cpu", 3, 0.4, 4, NO_PAGE,
                                                                api_name="/run_adaptation")
    assert "Fine-tuned on the support set for 4 step(s) first." in status, status
    title = json.loads(embedding["plot"])["layout"]["title"]["text"]
    assert "codes h(x) of the network fine-tuned on the support set" in title, title
    names = trace_names(curve)
    assert names and "support pair loss · trained network" in names and not any("support accuracy" in n for n in names)
    assert matrix["visible"] is True  # the fine-tuned network's distances
    assert matrix["label"] == "Distances between the support images"  # the box says which matrix it is
    _, _, _, _, classify_status = client.predict("siamese", "cpu", 3, 0.4, None, None, None, 4,
                                              NO_PAGE, api_name="/classify_queries")
    assert "Fine-tuned on the support set for 4 step(s) first." in classify_status, classify_status


def test_replay_slider_counts_steps_and_captions_say_right_or_wrong_first(app_server):
    """A transfer head's curve records every 5th of its 100 steps: the replay slider, labelled
    "after step", runs over those steps (it ran 0-20 beside a plot titled "after step 100").
    Classify's captions start with ✓ or ✗, the part a narrow thumbnail does not cut."""
    client = Client(app_server.url, verbose=False)
    client.predict("glyphs-5way", api_name="/load_example")
    import app

    curve, _, _, _, _, _, replay, replay_plot, _ = client.predict("transfer", "cpu", 3, 0.4, 0, NO_PAGE,
                                                                  api_name="/run_adaptation")
    steps = json.loads(curve["value"]["plot"])["data"][0]["x"]
    assert steps[0] == 0 and steps[-1] > 20, steps
    assert (replay["minimum"], replay["maximum"], replay["step"], replay["value"]) == (0, steps[-1], 5, steps[-1])
    assert json.loads(replay_plot["value"]["plot"])["layout"]["title"]["text"].endswith(f"after step {steps[-1]}")
    state = {"probabilities": [[[0.5, 0.5]]] * len(steps), "steps": steps, "classes": ["a", "b"], "queries": ["q"],
             "lang": "en"}
    assert app.replay_step(50, state)[0].layout.title.text.endswith("after step 50")
    _, gallery, _, _, _ = client.predict("protonet", "cpu", 3, 0.4, None, None, None, 0, NO_PAGE,
                                      api_name="/classify_queries")
    captions = [item["caption"] for item in gallery["value"]]
    assert captions and all(c.startswith(("✓ ", "✗ ")) for c in captions), captions
    assert all(("true class" in c) == c.startswith("✗") for c in captions)


def test_the_themes_text_reads_at_wcag_aa_contrast():
    """The light theme's labels, primary buttons, chosen radios and subdued text reach WCAG's
    4.5:1 against their backgrounds (Gradio's Soft theme: block labels 3.6:1, buttons 4.47:1,
    a slider's limits 2.5:1)."""
    import app
    from fewshot.viz import contrast

    def colour(name: str) -> str:
        value = getattr(app.THEME, name)
        while value.startswith("*"):
            value = getattr(app.THEME, value[1:])
        return {"white": "#ffffff", "black": "#000000"}.get(value, value)

    pairs = [("block_label_text_color", "block_label_background_fill"),
             ("block_title_text_color", "block_title_background_fill"),
             ("button_primary_text_color", "button_primary_background_fill"),
             ("button_primary_text_color", "button_primary_background_fill_hover"),
             ("checkbox_label_text_color_selected", "checkbox_label_background_fill_selected"),
             ("body_text_color_subdued", "background_fill_primary"),
             ("body_text_color", "background_fill_primary")]
    ratios = {pair: contrast(colour(pair[0]), colour(pair[1])) for pair in pairs}
    assert min(ratios.values()) >= 4.5, ratios


def test_the_adaptation_curve_is_also_said_in_words():
    """The status line gives the queries' accuracy at each step, at most 11 of them, evenly spaced,
    the first and the last included; nothing without labelled queries."""
    import app

    assert app.step_accuracies([{"step": s, "query_accuracy": a} for s, a in enumerate([0.4, 1.0, 1.0])]) == \
        "0: 40% → 1: 100% → 2: 100%"
    many = app.step_accuracies([{"step": s, "query_accuracy": s / 100} for s in range(0, 101, 5)])
    assert many.split(" → ") == [f"{s}: {s}%" for s in range(0, 101, 10)]
    assert app.step_accuracies([{"step": 0, "support_loss": 1.0}, {"step": 1, "support_loss": 0.5}]) is None


def test_adaptation_remembers_the_task_it_ran_on():
    """Adapt's last output is the task's fingerprint (``adapted_for``), by which an edit of the
    task marks the Adapt tab's results out of date; a loop variable once replaced it with the
    name of a message ("by_step_random"), so that the results counted as another task's."""
    import app

    task = app.load_example("glyphs-3way", None)[0]
    last = adapted(task, "maml")
    assert last["key"] == app.adaptation_key(task, "maml") == f"{app.task_key(task)} maml"
    assert "From a random start: 0: " in last["status"]


def test_a_page_whose_session_the_server_lost_is_told_so(app_server):
    """A page that shows a task sends its mark (app.held_task); a session whose state the server no
    longer holds (it restarted, or Gradio let the session go) gets that said,
    where Classify once asked for query images beside those the page showed, and Remove class
    raised an IndexError. A task made then is held as any other."""
    page = "shown"  # what the page's hidden box holds once it has shown a task
    lost = Client(app_server.url, verbose=False)  # a session the server holds nothing of
    status = lost.predict("protonet", "cpu", 3, 0.4, None, None, None, 0, page, api_name="/classify_queries")[-1]
    assert status.startswith("⚠ This page") and "no longer on the server" in status and "Reload the page" in status
    assert "no longer on the server" in lost.predict("0", page, api_name="/remove_class")[-1]
    lost.predict("glyphs-3way", api_name="/load_example")
    status = lost.predict("protonet", "cpu", 3, 0.4, None, None, None, 0, page, api_name="/classify_queries")[-1]
    assert status.startswith("Classified 9 image(s)"), status


def test_the_plots_have_words_made_from_their_own_numbers():
    """The embedding, the Adapt tab's matrix and the Classify tab's "Why" each have a line of words
    (a screen reader's only way to them, and a quick read for anyone), made from the figure the
    page shows, in its language: the Why words name the query as its thumbnail does ("Query 5")
    and list the classes in the order of the bars drawn; the matrix words count the queries whose
    nearest prototype or most attended image is of their own class, and name the others."""
    from types import SimpleNamespace

    import torch

    import app
    from fewshot import viz

    task = app.example_task(app.DEMO / "glyphs-3way")
    *_, state, _ = app.classify_queries(task, "protonet", "cpu", 3, 0.4, None, None, None, 0, None)
    _, plot = app.explain_query(4, state)
    words = seen_words(gr_plot(plot))
    bars = list(plot.data[0].y)
    nearest = sorted(range(len(bars)), key=bars.__getitem__)
    assert words.startswith("Query 5, the squared distance to each prototype"), words
    assert words.index(state["classes"][nearest[0]]) < words.index(state["classes"][nearest[1]]), words
    assert f"{bars[nearest[0]]:.3g}" in words
    chinese = seen_words(app.explain_query(4, {**state, "lang": "zh"})[1])
    assert chinese.startswith("查询 5，到各原型的平方距离"), chinese
    *_, state, _ = app.classify_queries(task, "maml", "cpu", 3, 0.4, None, None, None, 0, None)
    words = seen_words(app.explain_query(0, state)[1])
    assert words.startswith("Query 1, the classes' probabilities") and "before adapting (step 0)" in words and \
        "after step 3" in words, words
    chinese = seen_words(app.explain_query(0, {**state, "lang": "zh"})[1])  # (a Chinese list: 、, not ", ")
    assert "适应前（第 0 步）" in chinese and "、" in chinese and ", " not in chinese, chinese
    # the three first bars, and how many more there are (a 5-way task's student reads that there are others)
    probabilities = viz.probability_bars([0.1, 0.4, 0.2, 0.25, 0.05], list("abcde"), "t")
    words = seen_words(app.described(probabilities, "why_probabilities", "en", query=2, names=list("abcde")))
    assert words == "Query 2, the classes' probabilities, highest first: b 40%; d 25%; c 20%; and 2 more.", words
    # the matrix: two queries of class 0, one of class 1; the second query lies nearest class 1's prototype
    distances = torch.tensor([[0.5, 2.0], [3.0, 1.0], [4.0, 0.25]])
    figure = app.described(viz.prototype_distances_plot(distances, ["q1", "q2", "q3"], ["eye", "fork"]),
                           "prototypes", "en", rows=["q1", "q2", "q3"], columns=["eye", "fork"], row_classes=[0, 0, 1])
    assert seen_words(figure) == "Queries nearest the prototype of their own class: 2 of 3. " \
                                     "The others are nearest: q2 → fork (1)."
    attention = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]])
    figure = app.described(viz.attention_plot(attention, ["q1", "q2"], ["eye · 1", "eye · 2", "fork · 1"], "zh"),
                           "attention", "zh", rows=["q1", "q2"], columns=["eye · 1", "eye · 2", "fork · 1"],
                           row_classes=[0, 0], column_classes=[0, 0, 1])
    assert seen_words(figure) == "2 个查询中有 1 个最关注本类别的支持图像。其余查询最关注的：q2 → fork · 1（0.5）。"
    # the Siamese network's distances among the support images: an image alone in its class has no
    # image of its own class to be near (1-shot tasks said "0 of 5 ... nearest ... their own class")
    distances = torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]])
    one_shot = app.described(viz.distance_matrix_plot(distances, ["a", "b", "c"]), "distances", "en",
                             rows=["a", "b", "c"], columns=["a", "b", "c"], row_classes=[0, 1, 2],
                             column_classes=[0, 1, 2])
    assert seen_words(one_shot) == "Every class has one support image, so each one's nearest image is of " \
                                       "another class: a → b (1); b → a (1); c → a (2)."
    mixed = app.described(viz.distance_matrix_plot(distances, ["a", "b", "c"]), "distances", "en",
                          rows=["a", "b", "c"], columns=["a", "b", "c"], row_classes=[0, 0, 1], column_classes=[0, 0, 1])
    assert seen_words(mixed) == "Support images nearest another image of their own class: 2 of 2."
    # Meta-LSTM's gates: each layer's value after a colon, to three decimals (0.99999 read "1")
    gates = viz.gates_plot([{"step": 0, "input_gate": {"block 1": 0.5, "head": 0.25},
                             "forget_gate": {"block 1": 0.999996, "head": 0.9}},
                            {"step": 1, "input_gate": {"block 1": 0.6, "head": 0.3},
                             "forget_gate": {"block 1": 0.999996, "head": 0.95}}])
    gate_words = seen_words(app.described(gates, "gates", "en"))
    assert ": 1.000" in gate_words and ": 0.600" in gate_words, gate_words
    # the embedding: what the picture shows, counted from its points
    embedding = viz.embedding_plot(SimpleNamespace(support_embeddings=torch.tensor([[0.0, 0], [4, 0]]),
                                                   class_centres=torch.tensor([[0.0, 0], [4, 0]]),
                                                   support_labels=torch.tensor([0, 1])),
                                   ["eye", "fork"], ["eye · 1", "fork · 1"],
                                   query_embeddings=torch.tensor([[0.5, 0], [3.0, 0], [1.0, 0]]),
                                   query_names=["q1", "q2", "q3"], query_predicted=[0, 1, 1])
    assert seen_words(gr_plot(embedding)) == (
        "Queries that lie nearest the mean (star) of the class they were classified as, in this 2-D picture: 2 of 3. "
        "Nearer another class's mean: q3 (classified as fork) → eye.")
    assert seen_words(None) == "" and seen_words(viz.probability_bars([1.0], ["a"], "t")) == ""


def gr_plot(figure):
    """A figure as Gradio hands it to a handler that takes the plot as input."""
    import gradio as gr

    return gr.Plot().preprocess(gr.Plot().postprocess(figure))


def unisolated(text: str) -> str:
    """Words as read: without the isolates that set each name off (app.named)."""
    return text.replace("\u2068", "").replace("\u2069", "")


def seen_words(*args, **kwargs) -> str:
    """app.plot_words as read (unisolated)."""
    import app

    return unisolated(app.plot_words(*args, **kwargs))


def seen_replay(*args, **kwargs) -> str:
    """app.replay_words as read (unisolated)."""
    import app

    return unisolated(app.replay_words(*args, **kwargs))


def test_names_in_words_are_set_off_from_their_numbers():
    """Found by a review: the plots' and the replay's words set each class and image name off
    (U+2068 .. U+2069), as the captions do, so that a right-to-left name keeps the number beside
    it where it is written ("30% שלום ,%42 مرحبا" on a page); the MAML Why words say how many
    classes they leave out, as the others do; a tiny value is not read as "1.23e-05"."""
    import app
    from fewshot import viz

    words = app.plot_words(app.described(viz.probability_bars([0.7, 0.3], ["שלום", "b"], "t"), "why_probabilities",
                                         "en", query=1, names=["שלום", "b"]))
    assert "\u2068שלום\u2069 70%" in words and "\u2068b\u2069 30%" in words, words
    state = {"probabilities": [[[0.2, 0.8]]] * 2, "steps": [0, 1], "classes": ["a", "مرحبا"], "queries": ["q"],
             "labels": [0], "lang": "en"}
    assert "\u2068q\u2069 → \u2068مرحبا\u2069 (80%)" in app.replay_words(1, state)
    steps = [[[0.4, 0.3, 0.2, 0.06, 0.04]], [[0.1, 0.2, 0.3, 0.15, 0.25]]]
    maml = {"method": "maml", "classes": list("abcde"), "support": [], "probabilities": [steps[1][0]],
            "explanation": {"step_probabilities": steps}, "lang": "en"}
    assert seen_words(app.explain_query(0, maml)[1]) == (
        "Query 1, the classes' probabilities, highest first, before adapting (step 0): a 40%, b 30%, c 20%, "
        "and 2 more; after step 1: c 30%, e 25%, b 20%, and 2 more.")
    assert seen_words(app.explain_query(0, {**maml, "lang": "zh"})[1]).endswith("c 30%、e 25%、b 20%、另有 2 个。")
    attention = app.described(viz.probability_bars([0.99998, 1.23e-05], ["a · 1", "b · 1"], "t"), "why_attention",
                              "en", query=1, names=["a · 1", "b · 1"])
    assert seen_words(attention) == "Query 1, the attention over the support images, highest first: a · 1 1; " \
                                    "b · 1 < 0.001.", seen_words(attention)


def test_each_plot_comes_with_its_words():
    """The Adapt and Classify answers carry each plot's words beside the plot (app.with_words),
    equal to the words of the figure as the page receives it; no event takes a plot as its input:
    the words were once made in a request of their own, which sent the whole figure back from the
    page after it showed it, and came after it."""
    from types import SimpleNamespace

    import gradio as gr

    import app

    task = app.example_task(app.DEMO / "glyphs-3way")
    for method in ("matching", "protonet", "siamese", "maml"):
        shown = adapted(task, method)
        assert shown["embedding_words"] and \
            shown["embedding_words"] == app.plot_words(gr_plot(shown["embedding"])), method
        matrix = shown["matrix"]["value"] if shown["matrix"]["visible"] else None
        assert shown["matrix_words"] == ("" if matrix is None else app.plot_words(gr_plot(matrix))), method
        assert (shown["matrix_words"] != "") == (method != "maml"), method  # (MAML draws no matrix)
    state = shown["replay_state"]
    assert shown["replay_words"] == app.replay_words(3, state) and shown["replay_words"].startswith("After step 3: ")
    assert app.replay_step(1, state)[1] == app.replay_words(1, state)
    label, gallery, plot, words, *_ = app.classify_queries(task, "matching", "cpu", 3, 0.4, None, None, None, 0, None)
    assert words and words == app.plot_words(gr_plot(plot["value"] if isinstance(plot, dict) else plot))
    assert app.select_query(app.classify_queries(task, "matching", "cpu", 3, 0.4, None, None, None, 0, None)[-2],
                            SimpleNamespace(index=1))[2].startswith("Query 2, ")
    assert not [fn.name for fn in app.demo.fns.values() if any(isinstance(c, gr.Plot) for c in fn.inputs)]


def test_adapt_and_classify_first_say_that_they_started():
    """The Adapt and Classify buttons' events first write "Adapting…" / "Classifying…" (in the
    page's language) to their status line, every other output left as it was, then answer as
    their handlers do: the status line stayed as it was until the result came."""
    import gradio as gr

    import app

    task = app.example_task(app.DEMO / "glyphs-3way")
    events = {fn.name: fn for fn in app.demo.fns.values() if fn.name in ("run_adaptation", "classify_queries")}
    assert [len(events[name].outputs) for name in ("run_adaptation", "classify_queries")] == [12, 7]
    adapt = events["run_adaptation"].fn(task, "protonet", "cpu", 3, 0.4, {}, 0, gr.Request(headers={
        "accept-language": "zh-CN"}))
    assert next(adapt) == (gr.skip(),) * 5 + ("正在适应…",) + (gr.skip(),) * 6
    *_, last = adapt
    assert last[5].startswith("**原型网络**"), last[5]
    classify = events["classify_queries"].fn(task, "protonet", "cpu", 3, 0.4, None, None, None, 0, None)
    assert next(classify) == (gr.skip(),) * 4 + ("Classifying…",) + (gr.skip(),) * 2
    label, gallery, plot, words, status, state, key = next(classify)
    assert status.startswith("Classified 9 image(s)") and key == app.task_key(task)


def test_a_run_that_fails_on_an_error_of_the_apps_own_says_so(monkeypatch):
    """Found by a review: a run that failed on anything but a refusal (a bug, memory run out) left
    its status line saying "Adapting…" for ever; it now says that the run stopped, then the error
    goes on to Gradio (its toast)."""
    import gradio as gr

    import app

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(app, "run_method", broken)
    monkeypatch.setattr(app, "run_to_end", broken)
    task = app.example_task(app.DEMO / "glyphs-3way")
    events = {fn.name: fn for fn in app.demo.fns.values() if fn.name in ("run_adaptation", "classify_queries")}
    for name, arguments, status in (("run_adaptation", (task, "protonet", "cpu", 3, 0.4, {}, 0), 5),
                                    ("classify_queries", (task, "protonet", "cpu", 3, 0.4, None, None, None, 0), 4)):
        run = events[name].fn(*arguments, gr.Request(headers={"accept-language": "zh-CN"}))
        assert next(run)[status] in ("正在适应…", "正在分类…")
        stopped = next(run)
        assert stopped[status] == app.say("zh", "failed") and stopped[status].startswith("⚠ 本次运行"), stopped
        assert stopped[:status] + stopped[status + 1:] == (gr.skip(),) * (len(stopped) - 1)
        with pytest.raises(RuntimeError, match="a bug"):
            next(run)


def test_the_why_words_of_each_method_list_its_bars_in_order():
    """Found unguarded by a mutation test of app.py's UI layer: each method's "Why" in words lists
    the three first bars in the order the method decides by (the Siamese network's distances nearest
    first, as prototypes'; Matching Networks' attention over the support images, by their names;
    Meta-LSTM's probabilities highest first), MAML's its first and last inner step, and a Chinese
    page's items follow one another with "；"."""
    import app

    siamese = {"method": "siamese", "classes": ["a", "b", "c", "d"], "support": ["a1", "b1", "c1", "d1"],
               "probabilities": [[0.3, 0.1, 0.4, 0.2]], "explanation": {"class_distances": [[0.4, 1.7, 0.1, 0.9]]},
               "lang": "en"}
    assert seen_words(app.explain_query(0, siamese)[1]) == \
        "Query 1, the distance to each class's mean code, nearest first: c 0.1; a 0.4; d 0.9; and 1 more."
    assert seen_words(app.explain_query(0, {**siamese, "lang": "zh"})[1]) == \
        "查询 1，到各类别平均编码的距离（从近到远）：c 0.1；a 0.4；d 0.9；另有 1 个。"
    matching = {"method": "matching", "classes": ["a", "b"], "support": ["a · 1", "a · 2", "b · 1"],
                "probabilities": [[0.7, 0.3]], "explanation": {"attention": [[0.1, 0.6, 0.3]]}, "lang": "en"}
    assert seen_words(app.explain_query(0, matching)[1]) == \
        "Query 1, the attention over the support images, highest first: a · 2 0.6; b · 1 0.3; a · 1 0.1."
    lstm = {"method": "meta-lstm", "classes": ["a", "b", "c", "d"], "support": [], "explanation": {}, "lang": "en",
            "probabilities": [[0.1, 0.2, 0.3, 0.4], [0.3, 0.1, 0.4, 0.2]]}
    assert seen_words(app.explain_query(1, lstm)[1]) == \
        "Query 2, the classes' probabilities, highest first: c 40%; a 30%; d 20%; and 1 more."
    steps = [[[0.4, 0.3, 0.2, 0.1]], [[0.1, 0.2, 0.3, 0.4]], [[0.1, 0.5, 0.15, 0.25]]]  # (steps, queries, classes)
    maml = {"method": "maml", "classes": ["a", "b", "c", "d"], "support": [], "probabilities": [steps[-1][0]],
            "explanation": {"step_probabilities": steps}, "lang": "en"}
    assert seen_words(app.explain_query(0, maml)[1]) == ("Query 1, the classes' probabilities, highest first, "
                                                         "before adapting (step 0): a 40%, b 30%, c 20%, and 1 more; "
                                                         "after step 2: b 50%, d 25%, c 15%, and 1 more.")


def test_the_why_words_of_maml_without_an_inner_step_say_no_step_was_taken():
    """MAML with the inner steps' slider at 0 (it starts at 0): the Why heatmap has one row, step 0,
    and its words said the same probabilities twice, "before adapting (step 0): a 40%, …; after
    step 0: a 40%, …", as if a step had been taken."""
    import app

    steps = [[[0.4, 0.3, 0.2, 0.1]]]  # (steps, queries, classes): step 0 only
    maml = {"method": "maml", "classes": ["a", "b", "c", "d"], "support": [], "probabilities": [steps[0][0]],
            "explanation": {"step_probabilities": steps}, "lang": "en"}
    assert seen_words(app.explain_query(0, maml)[1]) == ("Query 1, the classes' probabilities, highest first, "
                                                         "before adapting (step 0), no inner step taken: "
                                                         "a 40%, b 30%, c 20%, and 1 more.")
    assert seen_words(app.explain_query(0, {**maml, "lang": "zh"})[1]) == \
        "查询 1，各类别的概率（从高到低），适应前（第 0 步），未走任何内循环步：a 40%、b 30%、c 20%、另有 1 个。"


def test_the_matrix_embedding_and_gates_words_read_their_own_figures():
    """Found unguarded by a mutation test of app.py's UI layer: the Siamese network's support
    distances leave each image's distance to itself out; Matching Networks' attention counts an image
    of the query's own class by the class of its column (not the column's index); a list past
    ``most`` ends "and N more", one of ``most`` does not; an embedding without queries counts its
    classes; Meta-LSTM's gates are said after their last update, inputs then forgets."""
    from types import SimpleNamespace

    import torch

    import app
    from fewshot import viz

    names = ["a1", "a2", "b1", "b2"]
    distances = torch.tensor([[0, 1.0, 0.5, 3.0], [1.0, 0, 2.0, 2.5], [0.5, 2.0, 0, 0.8], [3.0, 2.5, 0.8, 0]])
    figure = app.described(viz.distance_matrix_plot(distances, names), "distances", "en", rows=names, columns=names,
                           row_classes=[0, 0, 1, 1], column_classes=[0, 0, 1, 1])
    assert seen_words(figure) == ("Support images nearest another image of their own class: 2 of 4. "
                                      "Nearest an image of another class: a1 → b1 (0.5); b1 → a1 (0.5).")
    columns = ["eye · 1", "eye · 2", "fork · 1"]
    figure = app.described(viz.attention_plot(torch.tensor([[0.2, 0.7, 0.1]]), ["q1"], columns), "attention", "en",
                           rows=["q1"], columns=columns, row_classes=[0], column_classes=[0, 0, 1])
    assert seen_words(figure) == "Queries that attend most to a support image of their own class: 1 of 1."
    prototypes = torch.tensor([[2.0, 0.5], [3.0, 1.0], [4.0, 0.25]])
    said = []
    for k in (3, 2):
        figure = app.described(viz.prototype_distances_plot(prototypes[:k], ["q1", "q2", "q3"][:k], ["eye", "fork"]),
                               "prototypes", "zh", rows=["q1", "q2", "q3"][:k], columns=["eye", "fork"],
                               row_classes=[0] * k)
        said.append(seen_words(figure, most=2))
    assert said == ["3 个查询中有 0 个离本类别的原型最近。其余查询最近的原型：q1 → fork（0.5）；q2 → fork（1）；另有 1 个。",
                    "2 个查询中有 0 个离本类别的原型最近。其余查询最近的原型：q1 → fork（0.5）；q2 → fork（1）。"]
    alone = viz.embedding_plot(SimpleNamespace(support_embeddings=torch.tensor([[0.0, 0], [4, 0], [0, 1]]),
                                               class_centres=torch.tensor([[0.0, 0.5], [4, 0]]),
                                               support_labels=torch.tensor([0, 1, 0])), ["eye", "fork"], ["e1", "f1", "e2"])
    assert seen_words(alone) == "3 support images of 2 classes, around their means (stars); no queries."
    gates = viz.gates_plot([{"step": 0, "input_gate": {"conv1": 0.1, "classifier": 0.3},
                             "forget_gate": {"conv1": 0.9, "classifier": 0.8}},
                            {"step": 1, "input_gate": {"conv1": 0.2, "classifier": 0.35},
                             "forget_gate": {"conv1": 0.95, "classifier": 0.7}}])
    assert seen_words(app.described(gates, "gates", "en")) == (
        "After update 1, the mean input gate (a learned learning rate) of each layer: conv1: 0.200; classifier: 0.350; "
        "the mean forget gate: conv1: 0.950; classifier: 0.700.")


def test_each_tab_out_of_date_says_so_by_its_own_key():
    """Found unguarded by a mutation test of app.py's UI layer: Adapt's results of another method on
    the same task say that the method changed (not the task); the Compare table is cleared by its own
    key, also where the Classify tab's results are current."""
    import gradio as gr

    import app

    task = app.example_task(app.DEMO / "glyphs-3way")
    key = app.task_key(task)
    other_method = app.outdated_results(task, "protonet", app.adaptation_key(task, "maml"), None, None, None)
    assert other_method[5] == "The method has changed: adapt again."
    compared = app.outdated_results(task, "maml", None, key, "an older task", None)
    assert compared[:18] == (gr.skip(),) * 18 and compared[19] == "The task has changed: compare again."


def test_class_names_in_captions_are_isolated_from_their_numbers():
    """Found unguarded outside the browser test by a mutation test of app.py's UI layer: each class
    name in a Classify caption is set off (U+2068 .. U+2069), so that a right-to-left name keeps the
    percentage beside it where it is written."""
    import app

    task = app.example_task(app.DEMO / "glyphs-3way")
    task["classes"][0]["name"] = "שלום"
    _, gallery, *_ = app.classify_queries(task, "protonet", "cpu", 3, 0.4, None, None, None, 0, None)
    captions = [caption for _, caption in gallery["value"]]
    assert any("\u2068שלום\u2069 (" in c for c in captions), captions
    for caption in captions:
        assert caption.startswith(("✓ \u2068", "✗ \u2068")), caption
        assert caption.count("\u2068") == caption.count("\u2069") == (1 if caption.startswith("✓") else 2), caption


def test_chinese_sentences_that_follow_another_start_without_a_space():
    """Found unguarded by a mutation test of app.py's UI layer: a message that follows another
    starts with a space in English and none in Chinese (the status line read "…毫秒。 查询准确率")."""
    import app

    assert app.say("en", "accuracy", acc=0.5) == " Query accuracy: **50%**."
    assert app.say("zh", "accuracy", acc=0.5) == "查询准确率：**50%**。"


def test_the_api_reads_class_names_as_documented():
    """Found unguarded without an app server by a mutation test of app.py's UI layer: /classify's
    class names are a list, whole numbers taken as names, booleans and anything else refused with
    the name's position; a missing method and an unknown domain are said before any file is read."""
    import re

    import gradio as gr

    import app

    assert app.class_labels([1, "b", 2]) == ["1", "b", "2"] and app.class_labels(None) == []
    for names, said in (("ab", "class_names must be a list"), ([True, False], "class_names[0] is True"),
                        (["a", 1.5], "class_names[1] is 1.5")):
        with pytest.raises(app.Refusal, match=re.escape(said)):
            app.class_labels(names)
    for method, domain, said in ((" ", "characters", "method is missing"), (None, "characters", "method is missing"),
                                 (5, "characters", "method must be a string, one of siamese, matching, maml, "
                                                   "protonet, meta-lstm, transfer, pixels; 5 was given"),
                                 ("protonet", "sketches", "Unknown or unavailable domain 'sketches'")):
        with pytest.raises(gr.Error, match=re.escape(said)):
            app.classify_api(method, [], [], [], domain)


def test_compare_and_classify_ask_the_service_for_no_more_than_they_show(monkeypatch):
    """Found by a review: the Compare tab's runs scored the queries at every step and explained its
    prediction (MAML: its probabilities at each step, and embeddings), none of which it shows, and
    its time columns counted that work. Compare asks for accuracy and times alone, as /classify
    does; the Classify tab for its explanation, not the steps' scores (the Adapt tab's curve)."""
    import app

    asked = []
    real = app.run_to_end

    def recorded(zoo, method, task, **options):
        asked.append((method, options.get("score_steps", True), options.get("explain", True)))
        return real(zoo, method, task, **options)

    monkeypatch.setattr(app, "run_to_end", recorded)
    task = app.example_task(app.DEMO / "glyphs-3way")
    *_, (table, status, _) = app.compare_methods(task, "cpu", None)
    assert {method for method, *_ in asked} >= {"maml", "meta-lstm", "transfer", "protonet"}
    assert all(call[1:] == (False, False) for call in asked), asked
    asked.clear()
    answer = app.classify_queries(task, "maml", "cpu", 3, 0.4, None, None, None, 0, None)
    assert asked == [("maml", False, True)] and answer[4].startswith("Classified 9 image(s)")


def test_a_saved_task_opens_again_and_a_bad_archive_keeps_the_task(app_server, tmp_path):
    """Save gives the task as one zip (demo/'s layout, the images byte for byte); opened after a
    clear, the same task comes back (classes, images, queries; Adapt runs on it); an archive that
    is no zip, or holds a path out of it, is refused with its reason and the task stays."""
    import zipfile

    session = Client(app_server.url, verbose=False)
    session.predict("glyphs-5way", api_name="/load_example")
    saved, status = session.predict(NO_PAGE, api_name="/save_task")
    assert status == "Saved the task as one .zip file: 5 classes, 25 images, 15 labelled queries."

    def contents(path) -> dict:
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in archive.namelist()}

    first = contents(saved)
    classes = sorted(p.name for p in (DEMO / "support").iterdir())
    assert [c["name"] for c in json.loads(first["task.json"])["classes"]] == classes
    assert first["support/01-eye/01-1.png"] == (DEMO / "support" / "eye" / "1.png").read_bytes()
    assert first["query/05-zigzag/03-3.png"] == (DEMO / "query" / "zigzag" / "3.png").read_bytes()
    assert session.predict("characters", api_name="/clear_task")[-3] == "The task is empty."
    assert session.predict(NO_PAGE, api_name="/save_task")[-1].startswith("⚠ There is nothing to save yet")
    *_, status, domain = session.predict(handle_file(saved), api_name="/open_task")
    assert status == "Loaded few-shot-task.zip: 5 classes, 5 images each, 15 labelled queries." and domain == "characters"
    assert contents(session.predict(NO_PAGE, api_name="/save_task")[0]) == first  # the same task, byte for byte
    adapted = session.predict("protonet", "cpu", 3, 0.4, 0, NO_PAGE, api_name="/run_adaptation")[5]
    assert "classifying 15 queries" in adapted and "Query accuracy: **100%**" in adapted, adapted

    notes = tmp_path / "notes.zip"
    notes.write_text("a list of names, not a zip")
    escaping = tmp_path / "escaping.zip"
    with zipfile.ZipFile(escaping, "w") as archive:
        archive.writestr("support/eye/1.png", first["support/01-eye/01-1.png"])
        archive.writestr("support/fork/../../../../escaped.png", first["support/01-eye/01-1.png"])
    one_class = tmp_path / "one-class.zip"  # (two folders on Linux, one class to the app)
    with zipfile.ZipFile(one_class, "w") as archive:
        for folder in ("Eye", "eye", "fork"):
            archive.writestr(f"support/{folder}/1.png", first["support/01-eye/01-1.png"])
    for bad, words in ((notes, "notes.zip is not a zip archive."),
                       (escaping, "support/fork/../../../../escaped.png in escaping.zip leads outside the archive"),
                       (one_class, "more than one class is named Eye, eye.")):
        *_, status, _ = session.predict(handle_file(str(bad)), api_name="/open_task")
        assert status.startswith("⚠ ") and words in status.replace("\\", ""), status
    assert contents(session.predict(NO_PAGE, api_name="/save_task")[0]) == first


def test_a_session_keeps_only_the_images_of_the_task_it_opened_last(tmp_path, monkeypatch):
    """Each Open extracted its archive into a folder of its own, kept until the app exits: on a
    public Space one page could fill the disk by opening the same 100 MB upload again and again.
    A session's earlier folder goes when it opens another task; another session's stays."""
    from types import SimpleNamespace

    import app
    from fewshot.archive import write_task_archive

    monkeypatch.setattr(app, "uploaded", lambda path: True)  # (as if the client had uploaded it)
    task = app.example_task(app.DEMO / "glyphs-3way")
    saved = write_task_archive(tmp_path / "task.zip", [c["name"] for c in task["classes"]],
                               [[Path(i["path"]) for i in c["images"]] for c in task["classes"]])
    mine, theirs = (SimpleNamespace(headers={}, session_hash=h) for h in ("mine", "theirs"))
    app.open_task(str(saved), theirs)
    for _ in range(3):
        opened = app.open_task(str(saved), mine)[0]
    for request in (mine, theirs):
        assert len(list(app.session_folder("opened", request).iterdir())) == 1
    folder = next(app.session_folder("opened", mine).iterdir())
    assert all(Path(i["path"]).is_relative_to(folder) and Path(i["path"]).is_file()
               for c in opened["classes"] for i in c["images"])


def test_two_opens_at_once_in_one_session_each_open_whole(tmp_path, monkeypatch):
    """Each open removed the session's other folders once its own archive was read, also the
    folder of an open still running in that session (a second upload sent meanwhile, two API
    calls): that one was refused ("does not exist") for images removed under it, or, both
    past their checks, each removed the other's and both tasks pointed at removed files."""
    import threading
    import time
    from types import SimpleNamespace

    import app
    from fewshot.archive import write_task_archive

    monkeypatch.setattr(app, "uploaded", lambda path: True)
    task = app.example_task(app.DEMO / "glyphs-3way")
    saved = write_task_archive(tmp_path / "task.zip", [c["name"] for c in task["classes"]],
                               [[Path(i["path"]) for i in c["images"]] for c in task["classes"]])
    request = SimpleNamespace(headers={}, session_hash="twice")
    checked, second_done = app.check_archived_images, threading.Event()

    def slow_check(opened, get):  # the first open is read, then checked once the second is done
        if threading.current_thread().name == "first":
            second_done.wait(1.5)
        return checked(opened, get)

    monkeypatch.setattr(app, "check_archived_images", slow_check)
    answers = {}

    def open_it(name):
        answers[name] = app.open_task(str(saved), request)
        if name == "second":
            second_done.set()

    first = threading.Thread(target=open_it, args=("first",), name="first")
    first.start()
    time.sleep(0.3)
    second = threading.Thread(target=open_it, args=("second",), name="second")
    second.start()
    first.join(10), second.join(10)
    assert [answers[name][3] for name in ("first", "second")] == ["Loaded task.zip: 3 classes, 5 images each, "
                                                                   "0 labelled queries."] * 2
    last = answers["second"][0]  # (the second waited for the first: its task is the session's)
    assert len(list(app.session_folder("opened", request).iterdir())) == 1
    assert all(Path(i["path"]).is_file() for c in last["classes"] for i in c["images"])


def test_opened_tasks_of_all_sessions_together_are_bounded(tmp_path, monkeypatch):
    """A session keeps the images of the task it opened last until the app exits: one new session
    after another, each opening a small archive of large images, filled the server's disk. Past
    ``OPENED_MOST`` (every session's together) an open is refused and nothing is kept of it; a
    session that opens again replaces its own task's images, which count no more."""
    from types import SimpleNamespace

    import app
    from fewshot.archive import write_task_archive

    monkeypatch.setattr(app, "uploaded", lambda path: True)
    task = app.example_task(app.DEMO / "glyphs-3way")
    saved = write_task_archive(tmp_path / "task.zip", [c["name"] for c in task["classes"]],
                               [[Path(i["path"]) for i in c["images"]] for c in task["classes"]])
    one = sum(Path(i["path"]).stat().st_size for c in task["classes"] for i in c["images"])
    monkeypatch.setattr(app, "OPENED_MOST", int(2.5 * one), raising=False)
    monkeypatch.setattr(app, "UPLOADS", tmp_path / "uploads")
    first, second, third = (SimpleNamespace(headers={}, session_hash=h) for h in ("first", "second", "third"))
    for request in (first, second, first):
        assert app.open_task(str(saved), request)[3].startswith("Loaded task.zip")
    refused = app.open_task(str(saved), third)[3]
    assert refused.startswith("⚠ The task was not opened") and "as it can keep" in refused, refused
    assert not list(app.session_folder("opened", third).iterdir())


def test_the_command_line_says_its_options_and_serves_where_told():
    """``python app.py --help`` started the server (the arguments were never read): it prints the
    options and the environment the app reads, at once (before torch and Gradio are imported),
    and starts nothing; a bad port is refused by name; --host, --port and --share reach launch."""
    import subprocess
    import sys

    import app

    shown = subprocess.run([sys.executable, "-X", "importtime", "app.py", "--help"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: python app.py"), shown
    assert all(word in shown.stdout for word in ("--host", "--port", "--share", "FEWSHOT_DATA", "GRADIO_ROOT_PATH"))
    imported = {line.split("|")[-1].strip() for line in shown.stderr.splitlines() if line.startswith("import time:")}
    assert "argparse" in imported and not {"torch", "gradio"} & imported, sorted(imported)
    refused = subprocess.run([sys.executable, "app.py", "--port", "99999"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 2 and "'99999' is no port: a number from 1 to 65535" in refused.stderr
    assert app.command_line([]) == {}
    assert app.command_line(["--host", "0.0.0.0", "--port", "8000", "--share"]) == {
        "server_name": "0.0.0.0", "server_port": 8000, "share": True}


def test_the_page_has_an_icon_of_its_own(app_server):
    """A browser tab or bookmark of the app showed Gradio's logo: the app serves its own icon
    (an SVG, at the address browsers ask for and in the manifest)."""
    import urllib.request

    import app

    with urllib.request.urlopen(app_server.url + "favicon.ico", timeout=30) as response:
        assert response.headers["content-type"] == "image/svg+xml"
        assert response.read().decode() == app.FAVICON_SVG
    with urllib.request.urlopen(app_server.url + "manifest.json", timeout=30) as response:
        assert json.loads(response.read())["icons"][0]["type"] == "image/svg+xml"


def test_the_task_replaced_comes_back_while_its_images_are_there(tmp_path):
    """Load, Sample, Open and Clear replace the task in one click: the task replaced, where it had
    images, is kept for the undo button (offer_undo), which swaps it back (undo_replace); a
    replacement that replaced nothing offers nothing new, and a task whose images are gone (an
    opened task's, once another opened) is not offered, nor brought back."""
    import gradio as gr

    import app

    skip = gr.skip()
    example, empty = app.example_task(app.DEMO / "glyphs-3way"), app.empty_task()
    assert app.offer_undo(example, example) == (skip, skip)  # (a refused open: nothing replaced)
    assert app.offer_undo(empty, empty) == (skip, skip)
    assert app.offer_undo(empty, example) == (gr.update(visible=True), example)
    image = tmp_path / "drawn.png"
    image.write_bytes((app.DEMO / "glyphs-3way" / "support" / "flag" / "1.png").read_bytes())
    opened = {**app.empty_task(), "classes": [{"name": "drawn", "images": [{"path": str(image), "name": "d.png"}]}]}
    assert app.offer_undo(example, opened) == (gr.update(visible=True), opened)
    back = app.undo_replace(example, opened, None)
    assert back[0] == opened and back[4] == "characters" and back[5] == gr.update(visible=True) and back[6] == example
    assert back[3] == ("Back to the task before (classes: 1, images: 1, queries: 0). The task it replaced is kept: "
                       "the same button brings it back.")
    assert app.undo_replace(None, example, None)[5:] == (gr.update(visible=False), None)  # (nothing to keep)
    image.unlink()  # (its folder removed: another task opened)
    assert app.offer_undo(example, opened) == (gr.update(visible=False), None)
    with pytest.warns(UserWarning, match="cannot come back"):
        gone = app.undo_replace(example, opened, None)
    assert gone[0] == skip and gone[3].startswith("⚠ The task before cannot come back") and gone[5:] == (
        gr.update(visible=False), None)


def test_a_task_opened_again_is_the_task_saved(tmp_path, monkeypatch):
    """Save then Open gives back the task as it was: a task of support images only can be saved
    (it needs no queries); each image keeps where it came from (an Omniglot file is read as the
    dataset's, not cleaned up as a drawing); a photo task opens on the photos domain; the open
    says how many images its classes have at the fewest."""
    import app

    monkeypatch.setattr(app, "uploaded", lambda path: True)  # (as if the client had uploaded the file)
    task = app.example_task(app.DEMO / "glyphs-3way")
    task["queries"] = []
    task["classes"][0]["images"] = task["classes"][0]["images"][:2]
    task["classes"][1]["images"][0]["source"] = "omniglot"
    saved, status = app.save_task(task, None)
    assert status == "Saved the task as one .zip file: 3 classes, 12 images, 0 labelled queries."
    opened, _, _, status, domain = app.open_task(saved, None)
    assert status == "Loaded few-shot-task.zip: 3 classes, 2 images each, 0 labelled queries." and domain == "characters"
    assert [[image.get("source") for image in c["images"]] for c in opened["classes"]] == \
        [[image.get("source") for image in c["images"]] for c in task["classes"]]
    assert opened["classes"][1]["images"][0]["source"] == "omniglot"
    saved, _ = app.save_task(app.example_task(app.DEMO / "scenes-3way"), None)
    opened, *_, status, domain = app.open_task(saved, None)
    assert domain == "photos" == opened["domain"], status


def test_an_open_refuses_what_it_cannot_open_and_says_why(tmp_path, monkeypatch):
    """Open with no file asks for one; a path on the server sent as a string (not a file the
    client uploaded) is refused, not read; a photo task on a server with no photo models is
    refused, the task on the page kept."""
    import gradio as gr

    import app
    from fewshot.archive import write_task_archive

    assert app.open_task(None, None)[3] == "⚠ Choose a .zip file of a saved task to open."
    task = app.example_task(app.DEMO / "glyphs-3way")
    saved = write_task_archive(tmp_path / "task.zip", [c["name"] for c in task["classes"]],
                               [[Path(i["path"]) for i in c["images"]] for c in task["classes"]])
    refused = app.open_task(str(saved), None)
    assert refused[0] == gr.skip() and refused[3].replace("\\", "").startswith("⚠ archive[0] is not an uploaded file"), \
        refused[3]
    monkeypatch.setattr(app, "uploaded", lambda path: True)
    monkeypatch.setattr(app, "DOMAINS", ["characters"])  # (a server without the photo checkpoints)
    photos = app.example_task(app.DEMO / "scenes-3way")
    saved = write_task_archive(tmp_path / "photos.zip", [c["name"] for c in photos["classes"]],
                               [[Path(i["path"]) for i in c["images"]] for c in photos["classes"]], domain="photos")
    refused = app.open_task(str(saved), None)
    assert refused[0] == gr.skip() and refused[3] == "⚠ No photo models are installed on this server.", refused[3]


def test_the_opened_tasks_bound_is_5_gb_and_a_task_at_it_opens(tmp_path, monkeypatch):
    """The opened tasks' images of every session together may reach ``OPENED_MOST``, 5 GB (a
    classroom's tasks): a task that brings them to exactly that opens; past it an open is
    refused, and the refusal names the bound as 5 GB."""
    from types import SimpleNamespace

    import app
    from fewshot.archive import write_task_archive

    monkeypatch.setattr(app, "uploaded", lambda path: True)
    monkeypatch.setattr(app, "UPLOADS", tmp_path / "uploads")
    task = app.example_task(app.DEMO / "glyphs-3way")
    saved = write_task_archive(tmp_path / "task.zip", [c["name"] for c in task["classes"]],
                               [[Path(i["path"]) for i in c["images"]] for c in task["classes"]])
    one = sum(Path(i["path"]).stat().st_size for c in task["classes"] for i in c["images"])
    first, second = (SimpleNamespace(headers={}, session_hash=h) for h in ("first", "second"))
    with monkeypatch.context() as exactly:
        exactly.setattr(app, "OPENED_MOST", one)
        assert app.open_task(str(saved), first)[3].startswith("Loaded task.zip")  # (at the bound: opened)
    real = app.folder_bytes
    for each, opens in ((2 * 1024 ** 3, True), (3 * 1024 ** 3, False)):  # (two sessions' tasks of that size)
        monkeypatch.setattr(app, "folder_bytes", lambda folder: each if real(folder) else 0)
        answer = app.open_task(str(saved), second)[3]
        assert answer.startswith("Loaded task.zip") if opens else "as it can keep (5 GB)" in answer, answer


def test_the_task_replaced_is_offered_back_only_when_whole(tmp_path):
    """The undo button is offered for a task replaced with images, each of them still on the
    server (one image gone, and it is not offered); not for a first task on a new page (nothing
    replaced), an empty task, or the same example loaded again. Brought back, the task comes with
    its own class menu and domain; an empty task on the page is not kept in its place."""
    import gradio as gr

    import app

    skip = gr.skip()
    example, empty = app.example_task(app.DEMO / "glyphs-3way"), app.empty_task()
    assert app.offer_undo(example, None) == (skip, skip)  # (the first task of a new page)
    assert app.offer_undo(example, empty) == (gr.update(visible=False), None)
    assert app.offer_undo(example, app.example_task(app.DEMO / "glyphs-3way")) == (skip, skip)  # (loaded again)
    queries_only = {**app.empty_task(), "queries": example["queries"]}  # (its classes removed)
    assert app.offer_undo(example, queries_only) == (gr.update(visible=True), queries_only)
    images = [tmp_path / f"{n}.png" for n in range(2)]
    for image in images:
        image.write_bytes((app.DEMO / "glyphs-3way" / "support" / "flag" / "1.png").read_bytes())
    drawn = {**app.empty_task(), "classes": [{"name": "drawn", "images": [{"path": str(p), "name": p.name}
                                                                          for p in images]}]}
    images[1].unlink()
    assert app.offer_undo(example, drawn) == (gr.update(visible=False), None)
    photos = app.example_task(app.DEMO / "scenes-3way")
    back = app.undo_replace(example, photos, None)
    assert back[0] == photos and back[4] == "photos" and back[6] == example
    assert [choice[1] for choice in back[1]["choices"]] == [app.NEW_CLASS, "0", "1", "2"]
    assert [choice[0] for choice in back[1]["choices"][1:]] == [c["name"] for c in photos["classes"]]
    assert app.undo_replace(empty, example, None)[5:] == (gr.update(visible=False), None)  # (a Clear, undone)


def test_every_click_that_replaces_the_task_keeps_it_for_the_undo_button():
    """Load example, Sample (either dataset), Open and Clear each keep the task they replace
    (``kept_task``) and then offer it back (``offer_undo``); the undo button swaps the task on
    the page with the one kept, which the replacing events wrote."""
    import app

    fns = app.demo.fns
    named = {fn.name: fn for fn in fns.values() if fn.name}
    task_block = named["load_example"].outputs[0]
    offer, undo = named["offer_undo"], named["undo_replace"]
    for name in ("load_example", "sample_omniglot", "sample_mini_imagenet", "open_task", "clear_task"):
        replacing = [fn for fn in fns.values() if fn.name == name]
        assert len(replacing) == 1, name
        before = fns[replacing[0].trigger_after]
        assert before.name == "kept_task" and before.inputs == [task_block], name
        after, chain = replacing[0], []
        while True:  # (the events that follow, one after another: Clear's clears the sketchpad first)
            following = [fn for key, fn in fns.items() if fn.trigger_after is not None and fns[fn.trigger_after] is after]
            if not following:
                break
            after = following[0]
            chain.append(after.name)
        assert "offer_undo" in chain, (name, chain)
        assert [fn for fn in fns.values() if fn.name == "offer_undo" and fn.inputs[1] is before.outputs[0]], name
    assert undo.inputs == [task_block, offer.outputs[1]] and undo.outputs[-1] is offer.outputs[1]
    assert offer.inputs[0] is task_block and offer.inputs[1] is not offer.outputs[1]


def test_the_port_is_a_number_from_1_to_65535():
    """``--port`` takes 1 and 65535, and refuses 0 and 65536 (no port), by name."""
    import app

    assert app.command_line(["--port", "1"]) == {"server_port": 1}
    assert app.command_line(["--port", "65535"]) == {"server_port": 65535}
    for port in ("0", "65536"):
        with pytest.raises(SystemExit):
            app.command_line(["--port", port])


def test_python_app_py_launches_with_its_options_and_what_the_app_is_served_with():
    """``python app.py --host H --port P`` launches there (the options were once read and then
    not passed on), with what the app is served with: the page's icon, the theme, the upload
    limit, and the folders of the examples' and both datasets' images (a sampled task's images
    are served from there)."""
    import subprocess
    import sys

    from fewshot.data import default_data_root

    script = ("import json, runpy, sys\nimport gradio as gr\n"
              "def launch(self, **o):\n"
              "    print('LAUNCH', json.dumps({k: o.get(k) for k in ('server_name', 'server_port', 'max_file_size', "
              "'allowed_paths', 'favicon_path')} | {'theme': 'theme' in o}))\n"
              "gr.Blocks.launch = launch\n"
              "sys.argv = ['app.py', '--host', '0.0.0.0', '--port', '8123']\n"
              "runpy.run_path('app.py', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    line = next((line for line in done.stdout.splitlines() if line.startswith("LAUNCH ")), None)
    assert line, done.stdout + done.stderr
    options = json.loads(line[len("LAUNCH "):])
    data = default_data_root()
    assert options["server_name"] == "0.0.0.0" and options["server_port"] == 8123, options
    assert options["max_file_size"] == "100mb" and options["theme"] and options["favicon_path"].endswith(".svg"), options
    assert set(options["allowed_paths"]) == {str(ROOT / "demo"), str(data / "omniglot"), str(data / "mini-imagenet")}


def test_the_app_mounts_at_the_path_given_with_the_options_given():
    """``app.mount(host, path, **options)`` serves the app at ``path`` (not always /fewshot), and
    the options given go to ``gr.mount_gradio_app`` (here a smaller upload limit)."""
    import fastapi
    from starlette.testclient import TestClient

    import app

    host = fastapi.FastAPI()
    try:
        app.mount(host, "/elsewhere", max_file_size="1mb")
        with TestClient(host) as client:
            assert client.get("/fewshot/config").status_code == 404
            config = client.get("/elsewhere/config").json()
            assert config["max_file_size"] == 1024 ** 2, config.get("max_file_size")
    finally:
        app.mount(fastapi.FastAPI(), "/fewshot")  # (the app's own limit back on the shared Blocks)


def test_the_embedding_plot_names_the_network_whose_features_it_shows():
    """The Siamese network's features are the fine-tuned ones only where it was fine-tuned (steps
    seen); MAML's are its start θ where no inner step was taken, the adapted θ′ otherwise."""
    import app

    assert app.space_of("siamese", []) == "siamese"
    assert app.space_of("siamese", [{"step": 0}, {"step": 1}]) == "siamese-finetuned"
    assert app.space_of("maml", [{"step": 0}]) == "maml-start"
    assert app.space_of("maml", [{"step": 0}, {"step": 1}]) == "maml"
    assert app.space_of("protonet", []) == "protonet"


def test_a_refused_count_speaks_of_the_upload_box_only_when_it_holds_files():
    """A count refused (too many images) says that the upload box holds the files put in it
    before only where it holds some: an empty list of files (an API client's) is no box of files."""
    import app
    from fewshot.service import MAX_QUERIES, TaskError, checked_queries

    for files, box in (([], False), (None, False), (["a.png", "b.png"], True)):
        with pytest.raises((TaskError, app.Refusal)) as refused:
            with app.box_counted(files, "en"):
                checked_queries(MAX_QUERIES + 1)
        said = str(refused.value)
        assert ("The upload box holds" in said) == box and ("holds 2 file(s)" in said) == box, (files, said)


def test_only_files_a_client_uploaded_are_read_and_a_refusal_names_which(tmp_path, monkeypatch):
    """A path typed as a string is no file input (``file_path`` gives none, unless the input is
    a plain path of the app's own, as the Open button's); a single uploaded file is taken as a
    list of one; a file that was not uploaded is refused by its place in the list; the upload
    folder is no upload, also before it exists (no file uploaded yet)."""
    import gradio as gr
    from gradio.utils import get_upload_folder

    import app

    assert app.file_path("/etc/hostname") is None and app.file_path("/etc/hostname", plain=True) == "/etc/hostname"
    inside = Path(get_upload_folder()) / "qa-uploaded-paths-test" / "a.png"
    inside.parent.mkdir(parents=True, exist_ok=True)
    try:
        inside.write_bytes(b"x")
        assert app.uploaded_paths(gr.FileData(path=str(inside)), "query_images") == [str(inside)]
        with pytest.raises(app.Refusal, match=r"query_images\[1\] is not an uploaded file"):
            app.uploaded_paths([{"path": str(inside)}, {"path": "/etc/hostname"}], "query_images")
    finally:
        shutil.rmtree(inside.parent)
    not_yet = tmp_path / "uploads-to-come"
    monkeypatch.setattr(app, "get_upload_folder", lambda: str(not_yet))
    assert not app.uploaded(str(not_yet)) and not app.uploaded(str(not_yet) + "/")


def test_the_classify_and_compare_tabs_of_another_task_are_cleared_and_ask_for_their_own_run():
    """When the task changes, the Classify tab's results go and it says to classify again (not to
    adapt), and the Compare tab's table of the old task is taken away, not left under the words
    that it is out of date; each forgets what its results were of."""
    import gradio as gr

    import app

    task = app.example_task(app.DEMO / "glyphs-3way")
    stale = app.outdated_results(task, "maml", None, "an older task", "an older task", None)
    assert stale[:11] == (gr.skip(),) * 11  # (the Adapt tab showed nothing)
    assert stale[11:18] == (None, None, None, "", "The task has changed: classify again.", None, None)
    assert stale[18:] == (gr.update(value=None, visible=False), "The task has changed: compare again.", None)
