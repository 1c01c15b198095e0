"""The serving layer: contract of classify(), clear errors, streaming MAML, demo tasks."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fewshot.preprocess import ImageInputError
from fewshot.service import (
    ImageCache, ModelZoo, TaskError, adaptation_defaults, classify, model_inputs, pick_device, prepare_task,
    run_method, run_to_end,
)

DEMO = Path(__file__).resolve().parents[1] / "demo"
ZOO = ModelZoo()
CACHE = ImageCache()


def demo_task(name: str = "glyphs-5way", shots: int = 1):
    classes = sorted(p.name for p in (DEMO / name / "support").iterdir())
    support, labels, queries, query_labels = [], [], [], []
    for label, cls in enumerate(classes):
        files = sorted((DEMO / name / "support" / cls).glob("*.png"))[:shots]
        support += files
        labels += [label] * len(files)
        q = sorted((DEMO / name / "query" / cls).glob("*.png"))
        queries += q
        query_labels += [label] * len(q)
    return classes, support, labels, queries, query_labels


CORE = ("siamese", "matching", "maml", "protonet")


@pytest.mark.parametrize("method", ZOO.available())
def test_classify_contract(method):
    classes, support, labels, queries, _ = demo_task()
    names = [classes[i] for i in labels]
    out = classify(ZOO, method, support, names, queries, cache=CACHE)
    assert out["classes"] == classes and len(out["predictions"]) == len(queries)
    for prediction in out["predictions"]:
        assert prediction["label"] in classes
        assert set(prediction["confidences"]) == set(classes)
        assert sum(prediction["confidences"].values()) == pytest.approx(1.0, abs=1e-4)
    assert out["device"] == "cpu" and out["checkpoint"].startswith(method)


@pytest.mark.parametrize("method", CORE)
def test_demo_glyphs_are_classified_well(method):
    """The project's own glyphs, 5-way 5-shot: the shipped checkpoints recognise them."""
    classes, support, labels, queries, query_labels = demo_task(shots=5)
    task = prepare_task(classes, support, labels, queries, query_labels, cache=CACHE)
    result = run_to_end(ZOO, method, task, device="cpu")
    assert result.accuracy >= 0.8, (method, result.accuracy)


@pytest.mark.parametrize("names, error", [
    (["a"], "at least 2 classes"),
    (["a", "a"], "must differ"),
    (["Flag", "flag"], "must differ"),  # one class in other letters
    (["my flag", "my  flag"], "must differ"),  # the same on the screen
    (["café", "cafe\u0301"], "must differ"),  # the same letters: "é", and "e" with a combining accent
    (["a", " "], "needs a name"),
    ([str(i) for i in range(11)], "At most 10"),
])
def test_bad_tasks_are_refused_clearly(names, error):
    support = [DEMO / "glyphs-5way" / "support" / "eye" / "1.png"] * len(names)
    with pytest.raises(TaskError, match=error):
        prepare_task(names, support, list(range(len(names))), cache=CACHE)


def test_empty_class_and_mismatched_inputs():
    image = DEMO / "glyphs-5way" / "support" / "eye" / "1.png"
    with pytest.raises(TaskError, match="no images yet: b"):
        prepare_task(["a", "b"], [image], [0])
    with pytest.raises(TaskError, match="one class name per support image"):
        classify(ZOO, "protonet", [image, image], ["a"], [image])
    with pytest.raises(TaskError, match="at least one query"):
        classify(ZOO, "protonet", [image, image], ["a", "b"], [])
    with pytest.raises(TaskError, match="Unknown method"):
        classify(ZOO, "knn", [image, image], ["a", "b"], [image])


def test_classify_reads_class_names_as_the_app_does():
    """/classify groups support images by name as the app's Build tab does: letters' case and
    runs of spaces aside ("Eye", "eye" and " eye " are one class, under its first spelling),
    and a name longer than the app accepts is refused with the same message."""
    classes, support, labels, queries, _ = demo_task(shots=2)
    spellings = {"eye": ["Eye", " eye "], "fork": ["fork", "FORK"], "spiral": ["my  spiral", "My spiral"]}
    names = [spellings.get(classes[k], [classes[k]] * 2)[n % 2] for n, k in enumerate(labels)]
    out = classify(ZOO, "protonet", support, names, queries, cache=CACHE)
    assert out["classes"] == [{"eye": "Eye", "fork": "fork", "spiral": "my spiral"}.get(c, c) for c in classes]
    assert [p["label"] for p in out["predictions"]] == [out["classes"][k] for k in demo_task()[4]]
    with pytest.raises(TaskError, match="at most 60 characters; this one has 61") as refused:
        classify(ZOO, "protonet", support, names[:-1] + ["x" * 61], queries, cache=CACHE)
    assert refused.value.code == "name_too_long"


def test_names_that_show_as_nothing_are_no_names():
    """A name of invisible format characters only (a zero-width space, a direction override)
    was a class whose name showed as nothing, and a NUL stayed in a name: control characters
    are dropped, and a name left with nothing visible is refused as a missing one. Format
    characters inside a visible name stay (a joiner in an emoji, a mark beside Hebrew)."""
    from fewshot.service import clean_class_name

    assert [clean_class_name(n) for n in ("\u200b", "\u202e ", "\u200b\u200f", "\x00", "\t\n")] == [""] * 5
    # letters that show as nothing: the Hangul filler (a review sent it through /classify), the blank Braille pattern
    assert [clean_class_name(n) for n in ("\u3164", "\uffa0\u115f", " \u2800 ")] == [""] * 3
    assert clean_class_name("\u1100\u1161") == "\u1100\u1161" and clean_class_name("\u2801") == "\u2801"
    assert clean_class_name("a\x00b\x1b") == "ab" and clean_class_name(" my \t flag ") == "my flag"
    assert clean_class_name("\u200fשלום") == "\u200fשלום" and clean_class_name("👨\u200d👩") == "👨\u200d👩"
    image = demo_task()[1][0]
    with pytest.raises(TaskError, match="non-empty class name"):
        classify(ZOO, "protonet", [image, image], ["a", "\u200b"], [image], cache=CACHE)


def test_names_that_are_one_class_are_named_when_a_task_is_left_with_one(tmp_path):
    """Support images under "Eye" and "eye" are one class: where that leaves a single class,
    the refusal names the spellings, not only the count."""
    image = DEMO / "glyphs-5way" / "support" / "eye" / "1.png"
    with pytest.raises(TaskError, match="at least 2 classes, and “Eye” and “eye” name one class \\(case aside\\)") as refused:
        classify(ZOO, "protonet", [image, image], ["eye", "Eye"], [image])
    assert refused.value.code == "one_class_named_twice"
    with pytest.raises(TaskError, match="at least 2 classes; it has 1") as refused:  # one name: the count
        classify(ZOO, "protonet", [image, image], ["eye", "eye"], [image])
    assert refused.value.code == "too_few"


def test_a_zoo_is_refused_the_other_domains_images_and_a_missing_folder(tmp_path):
    """Characters given to the photo checkpoints (or photos to the character ones) are refused
    with the way out, not a network's shape error; a zoo over a missing folder says so at once
    (rather than that no checkpoint serves each task), and an unknown domain names the two."""
    classes, support, labels, queries, _ = demo_task()
    assert ZOO.domain == "characters" and ModelZoo.for_domain("photos").domain == "photos"
    with pytest.raises(TaskError, match=r"prepared as photos.*read characters.*for_domain\('photos'\)") as refused:
        classify(ZOO, "protonet", support, [classes[k] for k in labels], queries, cache=CACHE, domain="photos")
    assert refused.value.code == "domain_mismatch"
    task = prepare_task(classes, support, labels, queries, cache=CACHE)
    with pytest.raises(TaskError, match="prepared as characters, and these checkpoints read photos"):
        run_to_end(ModelZoo.for_domain("photos"), "protonet", task)
    with pytest.raises(FileNotFoundError, match="No checkpoint folder at .*absent"):
        ModelZoo(tmp_path / "absent")
    with pytest.raises(ValueError, match="Unknown domain 'sketch': characters or photos"):
        ModelZoo.for_domain("sketch")


def test_too_many_images_are_refused_before_any_is_read(tmp_path):
    """A class of more than MAX_SHOTS support images, or more than MAX_QUERIES queries, is refused
    by its count alone: the files here do not exist, and the refusal is the count's, not theirs
    (reading them would have said "does not exist"; a photo costs about 0.1 s to encode)."""
    from fewshot.service import MAX_QUERIES, MAX_SHOTS

    image = DEMO / "glyphs-5way" / "support" / "eye" / "1.png"
    missing = [tmp_path / f"{n}.png" for n in range(MAX_SHOTS + 1)]
    with pytest.raises(TaskError, match=f"at most {MAX_SHOTS} support images: “b” would have {MAX_SHOTS + 1}") as refused:
        prepare_task(["a", "b"], [image] + missing, [0] + [1] * len(missing))
    assert refused.value.code == "too_many_shots" and refused.value.values == {
        "most": MAX_SHOTS, "name": "b", "have": MAX_SHOTS + 1}
    queries = [tmp_path / f"q{n}.png" for n in range(MAX_QUERIES + 1)]
    with pytest.raises(TaskError, match=f"At most {MAX_QUERIES} query images .* {MAX_QUERIES + 1} were given"):
        classify(ZOO, "protonet", [image, image], ["a", "b"], queries)
    # at the limits, the task runs
    out = classify(ZOO, "protonet", [image] * (MAX_SHOTS + 1), ["a"] + ["b"] * MAX_SHOTS, [image] * MAX_QUERIES,
                   cache=CACHE)
    assert len(out["predictions"]) == MAX_QUERIES


def test_bad_image_is_named(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    image = DEMO / "glyphs-5way" / "support" / "eye" / "1.png"
    with pytest.raises(ImageInputError, match="notes.txt"):
        classify(ZOO, "protonet", [image, bad], ["a", "b"], [image])


def test_gpu_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(TaskError, match="No GPU"):
        pick_device("gpu")
    with pytest.raises(TaskError, match="No GPU"):
        pick_device("cuda:0")


def test_a_device_is_one_of_those_named_or_refused():
    """An unknown device ran on the CPU in silence ("mps", "bogus"); None is the default, auto."""
    import torch

    assert pick_device(None) == pick_device("auto") and pick_device(" CPU ") == torch.device("cpu")
    for name in ("mps", "bogus"):
        with pytest.raises(TaskError, match=f"Unknown device “{name}”: auto, cpu or gpu"):
            pick_device(name)


def test_maml_streams_its_steps_and_a_random_initialisation_baseline():
    classes, support, labels, queries, query_labels = demo_task(shots=1)
    task = prepare_task(classes, support, labels, queries, query_labels, cache=CACHE)
    events, slept = [], 0.0
    started = time.perf_counter()
    for kind, value in run_method(ZOO, "maml", task, device="cpu", steps=3, lr=0.4, baseline=True):
        events.append((kind, value))
        if kind == "step":
            time.sleep(1.0)  # a slow consumer (a UI drawing the step) is not adaptation time
            slept += 1.0
    working_ms = (time.perf_counter() - started - slept) * 1000
    kinds = [k for k, _ in events]
    assert kinds == ["step"] * 4 + ["baseline"] * 4 + ["done"]
    result = events[-1][1]
    # no wall-clock bound (the machine may be slow): adaptation time is at most the time the
    # generator itself ran, which excludes the consumer's sleeps
    assert 0 < result.adapt_ms <= working_ms, (result.adapt_ms, working_ms)
    assert [r["step"] for r in result.baseline_steps] == [0, 1, 2, 3]
    # meta-learning buys accuracy: the meta-learned start beats the random one after 3 steps
    assert result.trace.steps[-1]["query_accuracy"] > result.baseline_steps[-1]["query_accuracy"]


def test_a_streaming_adaptation_holds_up_no_other_request():
    """While one request's MAML steps stream to a slow consumer (a UI drawing each one), another
    request for the same network runs at once (it waited on the model's lock: seconds in a
    classroom), and the shared network is left as loaded."""
    import threading

    classes, support, labels, queries, query_labels = demo_task(shots=1)
    task = prepare_task(classes, support, labels, queries, query_labels, cache=CACHE)
    streaming = run_method(ZOO, "maml", task, device="cpu", steps=3, lr=0.4, baseline=True)
    assert next(streaming)[0] == "step"  # paused inside the first request, as a UI drawing a step
    other = []
    thread = threading.Thread(target=lambda: other.append(run_to_end(ZOO, "maml", task, device="cpu")), daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert other and other[0].accuracy is not None, "the second request waited on the first"
    rest = list(streaming)
    assert rest[-1][0] == "done" and rest[-1][1].trace.steps[-1]["step"] == 3
    # the two requests' results are their own, and the same for the same task
    assert torch.equal(rest[-1][1].prediction.labels, other[0].prediction.labels)


def test_the_random_start_is_the_same_in_every_thread():
    """MAML's comparison start: the same weights on every call, also from threads at once, and
    the caller's random numbers untouched."""
    import threading

    from fewshot.checkpoints import load_checkpoint

    model, _ = load_checkpoint(ZOO.checkpoint("maml", 5, 1), "cpu")
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    starts = []
    threads = [threading.Thread(target=lambda: starts.append(model.reinitialised(seed=0))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert torch.equal(torch.random.get_rng_state(), before)
    first = starts[0].state_dict()
    assert all(torch.equal(first[k], other.state_dict()[k]) for other in starts[1:] for k in first)
    assert not torch.equal(first["classifier.weight"], model.state_dict()["classifier.weight"])


def test_siamese_fine_tuning_streams_its_steps_and_classifies_with_the_fine_tuned_network():
    """A Siamese network is served as meta-trained; asked for steps, it is fine-tuned on the
    support set first (the published row's protocol), one streamed record per step, and the
    queries are classified by the fine-tuned network (its last record's probabilities)."""
    classes, support, labels, queries, query_labels = demo_task(shots=1)
    task = prepare_task(classes, support, labels, queries, query_labels, cache=CACHE)
    served = list(run_method(ZOO, "siamese", task, device="cpu"))
    assert [kind for kind, _ in served] == ["done"] and served[-1][1].trace.steps == []
    events = list(run_method(ZOO, "siamese", task, device="cpu", steps=4))
    steps = [value for kind, value in events if kind == "step"]
    result = events[-1][1]
    assert [kind for kind, _ in events] == ["step"] * 5 + ["done"]
    assert [r["step"] for r in steps] == [0, 1, 2, 3, 4] == [r["step"] for r in result.trace.steps]
    assert steps[-1]["support_loss"] < steps[0]["support_loss"]
    assert torch.allclose(steps[0]["query_probabilities"], served[-1][1].prediction.probabilities, atol=1e-5)
    assert torch.allclose(steps[-1]["query_probabilities"], result.prediction.probabilities, atol=1e-5)
    assert not torch.allclose(result.prediction.probabilities, served[-1][1].prediction.probabilities, atol=1e-4)
    # the next request without steps gets the meta-trained network again
    again = run_to_end(ZOO, "siamese", task, device="cpu")
    assert torch.allclose(again.prediction.probabilities, served[-1][1].prediction.probabilities, atol=1e-6)


def test_siamese_fine_tuning_is_refused_for_photos():
    photos = ModelZoo.for_domain("photos")
    if "siamese" not in photos.available():
        pytest.skip("no photo Siamese checkpoint shipped")
    classes, support, labels, queries, query_labels = demo_task("scenes-3way", shots=1)
    task = prepare_task(classes, support, labels, queries, query_labels, cache=CACHE, domain="photos")
    with pytest.raises(TaskError, match="offered for characters, not photos") as caught:
        run_to_end(photos, "siamese", task, device="cpu", steps=3)
    assert caught.value.code == "finetune_photos"


def test_optimiser_machinery_is_imported_in_the_background():
    """A fresh interpreter (pytest's may have imported it already): the server's start imports
    what the first torch.optim optimiser would otherwise import inside a user's request."""
    script = ("import sys; from fewshot.service import import_optimiser_machinery; "
              "assert 'torch._dynamo' not in sys.modules; thread = import_optimiser_machinery(); "
              "assert thread.daemon; thread.join(60); assert 'torch._dynamo' in sys.modules; print('ok')")
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


def test_no_learning_reads_raw_pixels_in_the_photo_domain():
    """The photo zoo serves the raw-pixel floor from its Conv-4 checkpoint (normalised 84x84
    photos), never over the pretrained encoder's features, which were learned."""
    photos = ModelZoo.for_domain("photos")
    if "pixels" not in photos.available():
        pytest.skip("no mini-ImageNet raw-pixel checkpoint shipped")
    assert photos.checkpoint("pixels", 3, 5).name == "pixels-miniimagenet-conv4"
    assert photos.checkpoint("protonet", 3, 5).name.startswith("protonet-miniimagenet-lite0")
    classes, support, labels, queries, query_labels = demo_task("scenes-3way", shots=2)
    task = prepare_task(classes, support, labels, queries, query_labels, cache=CACHE, domain="photos")
    with photos.use("pixels", task.ways, task.shots, torch.device("cpu")) as (model, card):
        inputs = model_inputs(task.support_images, card, "photos")
        assert inputs.shape[1:] == (3, 84, 84)
        assert torch.equal(model.embed(inputs), inputs.flatten(1))  # the features are the pixels
    result = run_to_end(photos, "pixels", task, device="cpu")
    assert result.checkpoint == "pixels-miniimagenet-conv4" and result.accuracy == 1.0  # painted scenes: easy
    assert not result.encoder and result.encode_ms == 0.0  # no encoder ran: nothing to report as its time
    encoded = run_to_end(photos, "protonet", task, device="cpu")
    assert encoded.encoder and encoded.encode_ms > 0.0
    assert photos.recorded_accuracy("pixels", 5, 1)["accuracy"] < 0.3  # real mini-ImageNet test classes: not


def test_adaptation_defaults_come_from_the_checkpoint():
    five = adaptation_defaults(ZOO, "maml", 5, 1)
    twenty = adaptation_defaults(ZOO, "maml", 10, 1)
    assert (five["steps"], five["lr"]) == (3, 0.4) and (twenty["steps"], twenty["lr"]) == (5, 0.1)


def test_meta_lstm_streams_its_updates_and_learned_gates():
    """The shipped Meta-LSTM on the project's glyphs: one record per learner update, with the
    mean input gate (the learned step size) and forget gate of every layer, and the updates
    it chooses turn its learned initialisation into a classifier of this task."""
    if "meta-lstm" not in ZOO.available():
        pytest.skip("no Meta-LSTM checkpoint shipped")
    classes, support, labels, queries, query_labels = demo_task(shots=1)
    task = prepare_task(classes, support, labels, queries, query_labels, cache=CACHE)
    events = list(run_method(ZOO, "meta-lstm", task, device="cpu"))
    steps = [value for kind, value in events if kind == "step"]
    result = events[-1][1]
    updates = json.loads((ZOO.checkpoint("meta-lstm", 5, 1) / "card.json").read_text())["config"]["updates"]
    assert [r["step"] for r in steps] == list(range(updates + 1))
    assert "input_gate" not in steps[0]  # θ_0: no update yet
    for record in steps[1:]:
        for gate in ("input_gate", "forget_gate"):
            assert set(record[gate]) == {"block1", "block2", "block3", "block4", "classifier"}
            # sigmoids; in float32 one can round to exactly 1 (the continued 1-shot network's forget
            # gates do from the second update on: it learned to keep θ and only add to it)
            assert all(0.0 <= value <= 1.0 for value in record[gate].values())
        assert all(0.0 < value < 1.0 for value in record["input_gate"].values())  # it does step
    assert steps[-1]["support_loss"] < steps[0]["support_loss"]
    assert steps[-1]["query_accuracy"] >= steps[0]["query_accuracy"] + 0.3
    assert result.accuracy == pytest.approx(steps[-1]["query_accuracy"])


def test_recorded_accuracy_comes_with_the_papers_figure():
    """What the app's comparison shows beside a task: the serving checkpoint's recorded test
    accuracy, and the published figure of the same setting where a paper has one."""
    from fewshot.checkpoints import evaluation_on_test, read_card

    recorded = ZOO.recorded_accuracy("protonet", 3, 5)  # a 3-way task: the 5-way 5-shot record
    card = read_card(ZOO.checkpoint("protonet", 3, 5))
    assert (recorded["ways"], recorded["shots"]) == (5, 5)
    assert recorded["accuracy"] == evaluation_on_test(card, 5, 5)["accuracy"]
    assert recorded["published"] == {"accuracy": 99.7, "interval": 0, "source": "Snell et al. 2017",
                                     "short": "Snell et al. 2017"}
    assert ZOO.recorded_accuracy("maml", 20, 1)["published"]["interval"] == 0.3
    if "meta-lstm" in ZOO.available():  # Ravi & Larochelle report no Omniglot figure
        assert ZOO.recorded_accuracy("meta-lstm", 5, 1)["published"] is None
    photos = ModelZoo.for_domain("photos")
    if "protonet" in photos.available():  # a pretrained encoder's row has no comparable paper
        assert photos.recorded_accuracy("protonet", 5, 1)["published"] is None


def test_a_negative_number_of_steps_is_refused_by_the_service_too():
    """The service steps the methods' generators itself (adaptation, finetuning), past ``adapt``'s
    check: MAML ended in an AttributeError, the others ran as with no steps."""
    classes, support, labels, queries, query_labels = demo_task(shots=1)
    task = prepare_task(classes, support, labels, queries, query_labels, cache=CACHE)
    for method in ("maml", "siamese"):
        with pytest.raises(ValueError, match="0 or more, not -1"):
            run_to_end(ZOO, method, task, device="cpu", steps=-1)


def test_feature_cache_drops_the_least_recently_used(monkeypatch):
    """Photo features are kept per image content, at most ``size`` of them: the one dropped is
    the one least recently used (a hit counts as a use), and only images not kept are encoded."""
    from fewshot import features
    from fewshot.service import FeatureCache

    encoded = []
    monkeypatch.setattr(features, "encode", lambda pixels, name: encoded.append(len(pixels)) or pixels.flatten(1)[:, :4])
    a, b, c = (torch.full((1, 3, 2, 2), float(v)) for v in (1, 2, 3))
    cache = FeatureCache(size=2)
    assert cache.get(torch.cat([a, b]), "lite").tolist() == [[1.0] * 4, [2.0] * 4] and encoded == [2]
    cache.get(a, "lite")  # a hit: a is now the most recently used
    cache.get(c, "lite")  # full: b goes, a stays
    assert encoded == [2, 1]
    cache.get(a, "lite")
    assert encoded == [2, 1]
    cache.get(b, "lite")
    assert encoded == [2, 1, 1]
    # a call's rows are its own, though the cache drops them meanwhile (more new images than it
    # keeps; or another call's, between this one's look-up and its answer): a KeyError once
    d = torch.full((1, 3, 2, 2), 4.0)
    assert cache.get(torch.cat([a, b, c, d]), "lite")[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0]
    # and each row kept is a copy of its own (a view kept the batch it was encoded in alive)
    assert all(row.untyped_storage().nbytes() == row.numel() * row.element_size() for row in cache._items.values())


def test_a_task_of_uneven_shots_is_served_by_the_checkpoint_of_its_fewest():
    """Shots [5, 1, 1]: the task is 1-shot, as the checkpoint that serves it and the MAML sliders
    (app.maml_defaults) read it (with the most, Adapt and Classify ran the 5-shot networks while
    the sliders showed the 1-shot one's settings)."""
    classes, support, labels, _, _ = demo_task("glyphs-3way", shots=5)
    keep = [(f, k) for i, (f, k) in enumerate(zip(support, labels)) if k == 0 or labels.index(k) == i]
    assert [k for _, k in keep] == [0, 0, 0, 0, 0, 1, 2]
    task = prepare_task(classes, [f for f, _ in keep], [k for _, k in keep], cache=CACHE)
    assert task.shots == 1
    for method in ("maml", "protonet"):
        assert run_to_end(ZOO, method, task, device="cpu").checkpoint == \
            adaptation_defaults(ZOO, method, 3, 1)["checkpoint"] == ZOO.checkpoint(method, 3, 1).name


def test_reported_times_count_every_step_in_milliseconds(monkeypatch):
    """With a clock that advances 0.1 s at each reading, adaptation is every step's time and the
    rest (not the last step's alone) and classification one reading apart, in milliseconds (a
    slip reported seconds as milliseconds)."""
    import itertools
    from types import SimpleNamespace

    import fewshot.service as service

    classes, support, labels, queries, query_labels = demo_task("glyphs-3way")
    task = prepare_task(classes, support, labels, queries, query_labels, cache=CACHE)
    readings = itertools.count(1)
    monkeypatch.setattr(service, "time", SimpleNamespace(perf_counter=lambda: next(readings) / 10))
    result = run_to_end(ZOO, "maml", task, device="cpu", steps=3)
    records = len(result.trace.steps)
    assert records == 4  # the start and three steps, each timed from the reading after the previous one
    assert result.adapt_ms == pytest.approx(100 * (records + 1))
    assert result.classify_ms == pytest.approx(100)


def test_names_and_classes_at_their_limits():
    """A name of exactly MAX_NAME characters is taken (one more is refused); a support image's
    class must be one of the names (the last index past them was a bare IndexError)."""
    from fewshot.service import MAX_NAME, checked_class_name

    assert checked_class_name("x" * MAX_NAME) == "x" * MAX_NAME
    with pytest.raises(TaskError, match=f"at most {MAX_NAME} characters"):
        checked_class_name("x" * (MAX_NAME + 1))
    classes, support, _, _, _ = demo_task("glyphs-3way")
    with pytest.raises(TaskError, match="class 3 is out of range"):
        prepare_task(classes, support, [0, 1, 3], cache=CACHE)


@pytest.mark.parametrize("method", ["maml", "meta-lstm", "transfer", "siamese"])
def test_classify_scores_the_queries_once_with_the_probabilities_an_explained_run_gives(method):
    """/classify answers probabilities alone: its adaptation scores no queries at its steps (MAML's
    scored every query at each of its 4 steps, and its prediction again at each step, 9 passes
    where 1 answers), nor does the Classify tab's, whose explanation is its prediction's; the
    probabilities are those of the run the Adapt tab draws (the Siamese network's fine-tuning
    scores its queries at each step too)."""
    classes, support, labels, queries, query_labels = demo_task("glyphs-3way")
    task = prepare_task(classes, support, labels, queries, query_labels, cache=CACHE)
    steps = 2 if method == "siamese" else None
    explained = run_to_end(ZOO, method, task, device="cpu", steps=steps)
    assert all("query_probabilities" in record for record in explained.trace.steps)
    answered = run_to_end(ZOO, method, task, device="cpu", steps=steps, score_steps=False, explain=False)
    assert answered.trace.steps and not any("query_probabilities" in record or "query_loss" in record
                                            for record in answered.trace.steps)
    assert answered.prediction.explanation == {} and answered.prediction.query_embeddings.shape == (len(queries), 0)
    assert torch.allclose(answered.prediction.probabilities, explained.prediction.probabilities, atol=1e-6)
    told = run_to_end(ZOO, method, task, device="cpu", steps=steps, score_steps=False)  # (the Classify tab's)
    assert not any("query_probabilities" in record for record in told.trace.steps)
    assert told.prediction.explanation.keys() == explained.prediction.explanation.keys()
    assert all(torch.allclose(value, explained.prediction.explanation[key], atol=1e-6)
               for key, value in told.prediction.explanation.items())
    assert torch.allclose(told.prediction.probabilities, explained.prediction.probabilities, atol=1e-6)
    if steps is None:  # (/classify serves a Siamese network as trained, not fine-tuned)
        out = classify(ZOO, method, support, [classes[i] for i in labels], queries, cache=CACHE)
        assert [p["label"] for p in out["predictions"]] == [classes[k] for k in explained.prediction.labels]


@pytest.mark.parametrize("method, options", [("maml", {"baseline": True}), ("meta-lstm", {}), ("transfer", {}),
                                             ("siamese", {"steps": 2}), ("protonet", {})])
def test_a_caller_under_inference_mode_is_served_as_any_other(method, options):
    """A server may answer its requests under ``torch.inference_mode()``. ``adapt`` leaves it for
    its gradient steps, but ``run_method`` (and so ``classify``) drove the step generators
    itself, and MAML, Meta-LSTM, the transfer head and a fine-tuned Siamese network failed with
    "adaptation() takes gradient steps, which torch.inference_mode() forbids: call adapt()".
    Served so, every method answers as outside it (from a zoo that loaded its networks in
    inference mode too), and the caller's code between the steps stays in inference mode."""
    classes, support, labels, queries, query_labels = demo_task("glyphs-3way", shots=2)
    task = prepare_task(classes, support, labels, queries, query_labels, cache=CACHE)

    def served(zoo):
        events = []
        for kind, value in run_method(zoo, method, task, device="cpu", **options):
            events.append((kind, value, torch.is_inference_mode_enabled()))
        return events

    zoo = ModelZoo()  # (its networks are loaded under inference mode below)
    with torch.inference_mode():
        inside = served(zoo)
    outside = served(ZOO)
    assert all(mode for *_, mode in inside)
    assert [kind for kind, *_ in inside] == [kind for kind, *_ in outside]
    done, expected = inside[-1][1], outside[-1][1]
    assert torch.equal(done.prediction.probabilities, expected.prediction.probabilities)
    assert [r["support_loss"] for r in done.trace.steps] == [r["support_loss"] for r in expected.trace.steps]
    assert [r["support_loss"] for r in done.baseline_steps] == [r["support_loss"] for r in expected.baseline_steps]
    if method == "maml":
        assert done.baseline_steps  # (MAML's steps from a random start, in inference mode too)
    with torch.inference_mode():
        answer = classify(zoo, method, support, [classes[i] for i in labels], queries, cache=CACHE)
    assert [p["label"] for p in answer["predictions"]] == [classes[i] for i in done.prediction.labels.tolist()]
