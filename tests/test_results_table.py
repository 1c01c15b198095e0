"""The README's results tables are generated from the checkpoint cards: the block in the
README is what ``scripts/results_table.py`` builds from the shipped cards now."""

from __future__ import annotations

from pathlib import Path

from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


def results_table():
    return load_script("scripts/results_table.py")


def test_readme_tables_are_the_generated_ones():
    module = results_table()
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index(module.START) + len(module.START) + 1 : readme.index(module.END)]
    assert block == module.build(), "README results are stale: run python scripts/results_table.py"


def test_budget_counts_transfer_pretraining_in_batches_and_names_every_machine():
    module = results_table()
    budget = module.training_budget("mini-imagenet", "ravi", "conv4")
    assert "transfer-miniimagenet-conv4-baseline`: 4,880 of 30,000 batches of 128 images in" in budget
    assert module.batch_size({"command": "python -m fewshot.train --method transfer"}) == 128
    assert module.batch_size({"command": "x", "batch_size": 16}) == 16
    assert module.machines("NVIDIA H200, torch 2.11.0+cu130; CPU (x86_64, 2 cores, 1 threads), torch 2.14.1") == \
        "NVIDIA H200 then CPU (x86_64, 2 cores, 1 thread)"
    assert module.machines("CPU (x86_64, 2 cores, 2 threads), torch 2.14.1") == "CPU (x86_64, 2 cores, 2 threads)"
    assert module.machines("CPU (x86_64, 2 cores, 1 threads), torch 2.14.1; CPU (x86_64, 2 cores, 1 thread), torch "
                           "2.14.1; NVIDIA H200, torch 2.11.0; CPU (x86_64, 2 cores, 1 thread), torch 2.14.1") == \
        "CPU (x86_64, 2 cores, 1 thread) then NVIDIA H200 then CPU (x86_64, 2 cores, 1 thread)"


def fake_cards(monkeypatch, module, cards):
    monkeypatch.setattr(module, "cards_of", lambda dataset, split, backbone: cards)


def card(name, method="protonet", trainval=False, **training):
    base = {"steps": 100, "steps_requested": 200, "ways": 5, "shots": 1, "queries": 1, "meta_batch": 1,
            "wall_seconds": 120.0, "hardware": "CPU (x86_64, 2 cores, 2 threads), torch 2.14.1",
            "command": "python -m fewshot.train", "trainval": trainval}
    return {"name": name, "method": method, "split": "vinyals", "config": {}, "training": {**base, **training}}


def test_budget_names_tasks_per_meta_update_and_untrained_rows(monkeypatch):
    module = results_table()
    fake_cards(monkeypatch, module, [card("a", method="maml", meta_batch=32), card("b", queries=5)])
    budget = module.training_budget("omniglot", "vinyals", "conv4")
    assert "`a`: 100 of 200 meta-updates of 32 tasks (5-way 1-shot, 1 query per class) in 2 min on CPU" in budget
    assert "`b`: 100 of 200 meta-updates (5-way 1-shot, 5 queries per class)" in budget
    assert "Not trained yet for this table: Siamese network, Matching Networks, Meta-LSTM," in budget

    init = {"checkpoint": "maml-5w1s", "step": 14001, "fresh": ["classifier.bias", "classifier.weight"]}
    fake_cards(monkeypatch, module, [card("c", method="maml", init=init), card("d", init=None)])
    budget = module.training_budget("omniglot", "vinyals", "conv4")
    assert "in 2 min on CPU (x86_64, 2 cores, 2 threads), started from `maml-5w1s`'s weights at update 14,001;" in budget
    assert budget.count("started from") == 1


def test_trainval_note_agrees_with_how_many_checkpoints_it_names(monkeypatch):
    module = results_table()
    fake_cards(monkeypatch, module, [card("a")])
    assert module.trainval_note("omniglot", "vinyals", "conv4") == ""
    fake_cards(monkeypatch, module, [card("a", trainval=True), card("b")])
    one = module.trainval_note("omniglot", "vinyals", "conv4")
    assert one.startswith(" `a` trained on the training and validation characters") and "is the last step of that run" in one
    fake_cards(monkeypatch, module, [card("a", trainval=True), card("b", trainval=True), card("c", trainval=True)])
    three = module.trainval_note("omniglot", "vinyals", "conv4")
    assert three.startswith(" `a`, `b` and `c` trained") and "are the last steps of those runs" in three


def test_a_shortfall_that_would_round_up_to_the_paper_is_printed_with_two_decimals(monkeypatch):
    module = results_table()

    def measured(name, accuracy, ways=20, shots=5):
        return {**card(name, ways=ways, shots=shots), "serves": [{"ways": ways, "shots": shots}],
                "evaluation": [{"split": "vinyals", "ways": ways, "shots": shots, "episodes": 1000,
                                "accuracy": accuracy, "ci95": 0.00056}]}

    settings = [(20, 5)]
    published = {"protonet": {(20, 5): (98.9, 0)}}
    cells = {}
    for accuracy in (0.98863, 0.98912, 0.98812):
        fake_cards(monkeypatch, module, [measured("p", accuracy)])
        cells[accuracy] = module.table("omniglot", "vinyals", "conv4", settings, published).splitlines()[2]
    assert "| 98.86 ± 0.06 (98.9) |" in cells[0.98863]  # short by 0.04: one decimal would say 98.9
    assert "| 98.9 ± 0.1 (98.9 ✓) |" in cells[0.98912]  # reached
    assert "| 98.8 ± 0.1 (98.9) |" in cells[0.98812]  # plainly short


def test_a_setting_two_cards_serve_shows_the_one_trained_on_its_shots(monkeypatch):
    """As the app chooses (find_checkpoint): a 1-shot network that also serves 5-shot tasks gives
    way there to a 5-shot network, and the row names both."""
    module = results_table()

    def measured(name, shots, serves, accuracy):
        return {**card(name, ways=5, shots=shots), "serves": [{"ways": 5, "shots": k} for k in serves],
                "evaluation": [{"split": "vinyals", "ways": 5, "shots": k, "episodes": 1000,
                                "accuracy": accuracy, "ci95": 0.002} for k in serves]}

    fake_cards(monkeypatch, module, [measured("a-5shot", 5, [5], 0.99), measured("a-1shot", 1, [1, 5], 0.97)])
    row = module.table("omniglot", "vinyals", "conv4", [(5, 1), (5, 5)], None).splitlines()[2]
    assert row.split(" | ")[1:3] == ["97.0 ± 0.2", "99.0 ± 0.2"]
    assert "`a-1shot` (100 / 100), `a-5shot` (100 / 100)" in row


def test_every_cell_shows_the_network_the_app_serves_that_setting_with():
    """On the shipped cards: a cell's checkpoint is the one ``find_checkpoint`` gives the app,
    for every setting a card serves (one ranking, ``checkpoints.serving_rank``). The transfer
    rows are left out: there the table has a row per head and the app the better validated."""
    from fewshot.checkpoints import find_checkpoint, list_checkpoints, omniglot_input_of

    module = results_table()
    cards = [card for _, card in list_checkpoints(ROOT / "checkpoints") if card["method"] != "transfer"]

    def kind_of(c):  # (a network trained on the papers' input has a row of its own, and the app passes it by)
        return c["method"], c["dataset"], c.get("split"), c.get("backbone", "conv4"), omniglot_input_of(c)

    checked = 0
    for c in cards:
        for setting in c.get("serves", []):
            ways, shots = setting["ways"], setting["shots"]
            kind = kind_of(c)
            group = [d for d in cards if kind_of(d) == kind]
            served = find_checkpoint(c["method"], c["dataset"], c.get("split"), ways, shots, kind[3],
                                     omniglot_input=kind[4])
            assert module.serving_card(group, ways, shots)["name"] == served.name, (kind, ways, shots)
            checked += 1
    assert checked >= 40


def test_maml_under_finns_test_protocol_is_a_row_of_its_own_where_recorded(monkeypatch):
    """``fewshot.evaluate --transductive`` entries make a second MAML row, judged against the
    paper (it is the paper's protocol); the main MAML row keeps the app's evaluation."""
    module = results_table()
    entry = {"split": "vinyals", "ways": 5, "shots": 1, "episodes": 1000, "ci95": 0.004}
    maml = {**card("m", method="maml"), "serves": [{"ways": 5, "shots": 1}],
            "evaluation": [{**entry, "queries": 15, "accuracy": 0.968}]}
    published = {"maml": {(5, 1): (98.7, 0.4)}}
    fake_cards(monkeypatch, module, [maml])
    rows = module.table("omniglot", "vinyals", "conv4", [(5, 1)], published).splitlines()[2:]
    assert rows == ["| MAML | 96.8 ± 0.4 (98.7 ± 0.4) | `m` (100 / 100) |"]  # nothing transductive recorded
    # exactly the figure less its interval (98.7 - 0.4): reached
    maml["evaluation"].append({**entry, "queries": 1, "accuracy": 0.983, "adapt_transductive": True})
    rows = module.table("omniglot", "vinyals", "conv4", [(5, 1)], published).splitlines()[2:]
    assert rows == ["| MAML | 96.8 ± 0.4 (98.7 ± 0.4) | `m` (100 / 100) |",
                    f"| {module.TRANSDUCTIVE} | 98.3 ± 0.4 (98.7 ± 0.4 ✓) | those of the MAML row |"]


def test_siamese_finetuned_on_each_support_set_is_a_row_of_its_own_where_recorded(monkeypatch):
    """``fewshot.evaluate --finetune-steps`` entries make a second Siamese row, judged against the
    published row (which fine-tuned); the main row keeps the app's evaluation, and is set beside
    the network's published figures without fine-tuning where the table has them."""
    module = results_table()
    entry = {"split": "vinyals", "ways": 5, "shots": 1, "episodes": 1000, "queries": 15, "ci95": 0.003}
    siamese = {**card("s", method="siamese"), "serves": [{"ways": 5, "shots": 1}],
               "evaluation": [{**entry, "accuracy": 0.966}]}
    published = {"siamese": {(5, 1): (97.3, 0)}}
    fake_cards(monkeypatch, module, [siamese])
    rows = module.table("omniglot", "vinyals", "conv4", [(5, 1)], published).splitlines()[2:]
    assert rows == ["| Siamese network | 96.6 ± 0.3 (97.3) | `s` (100 / 100) |"]  # nothing fine-tuned recorded
    siamese["evaluation"].append({**entry, "accuracy": 0.9741, "adapt_steps": 5})
    rows = module.table("omniglot", "vinyals", "conv4", [(5, 1)], published).splitlines()[2:]
    assert rows == ["| Siamese network | 96.6 ± 0.3 (97.3) | `s` (100 / 100) |",
                    f"| {module.FINETUNED} | 97.4 ± 0.3 (97.3 ✓) | those of the Siamese network row |"]
    # where the table has the network's figures without fine-tuning, the row served without it
    # is set beside those (Vinyals et al.'s first Siamese row), the fine-tuned row beside its own
    published["siamese-as-trained"] = {(5, 1): (96.5, 0)}
    rows = module.table("omniglot", "vinyals", "conv4", [(5, 1)], published).splitlines()[2:]
    assert rows == ["| Siamese network | 96.6 ± 0.3 (96.5 ✓) | `s` (100 / 100) |",
                    f"| {module.FINETUNED} | 97.4 ± 0.3 (97.3 ✓) | those of the Siamese network row |"]
    assert "Siamese network 5-way 1-shot" not in module.tally("omniglot", "vinyals", "conv4", [(5, 1)], published)


def test_the_tally_counts_a_cell_any_row_of_its_method_reaches_and_says_how_short_the_rest_are(monkeypatch):
    """Under a table with published figures: MAML's cell reached only as Finn et al.'s code
    tested counts; a shortfall is measured from the figure less its interval, by the method's
    best row; a cell with no checkpoint says so rather than vanish."""
    module = results_table()
    entry = {"split": "vinyals", "ways": 5, "shots": 1, "episodes": 1000, "ci95": 0.004}
    maml = {**card("m", method="maml"), "serves": [{"ways": 5, "shots": 1}, {"ways": 5, "shots": 5}],
            "evaluation": [{**entry, "accuracy": 0.968}, {**entry, "accuracy": 0.983, "adapt_transductive": True},
                           {**entry, "shots": 5, "accuracy": 0.990}, {**entry, "shots": 5, "accuracy": 0.9937,
                                                                      "adapt_transductive": True}]}
    protonet = {**card("p"), "serves": [{"ways": 5, "shots": 1}], "evaluation": [{**entry, "accuracy": 0.9859}]}
    published = {"maml": {(5, 1): (98.7, 0.4), (5, 5): (99.9, 0.1)},
                 "protonet": {(5, 1): (98.8, 0), (5, 5): (99.7, 0)}, "matching": {(5, 1): (98.1, 0)}}
    fake_cards(monkeypatch, module, [maml, protonet])
    text = module.tally("omniglot", "vinyals", "conv4", [(5, 1), (5, 5)], published)
    assert text.startswith("Published cells reached: 1 of 5 ")
    assert "MAML 5-way 5-shot, tested as Finn et al.'s code did: 99.37, 0.43 short of 99.8 (99.9 ± 0.1)" in text
    assert "Prototypical Networks 5-way 1-shot: 98.59, 0.21 short of 98.8;" in text
    assert "Prototypical Networks 5-way 5-shot: no checkpoint (99.7)" in text
    assert "Matching Networks 5-way 1-shot: no checkpoint (98.1)" in text
    assert "MAML 5-way 1-shot" not in text  # 98.30 as Finn et al.'s code tested: 98.7 less its 0.4, reached


def test_a_figure_less_its_interval_is_reached_exactly_where_floating_point_misses_it(monkeypatch):
    """99.9 - 0.1 is 99.80000000000001 in floating point (so are 66.43 - 0.63 and 55.31 - 0.73
    off by a little): a measured 99.80 against 99.9 ± 0.1 got no ✓ and a "0.00 short"."""
    module = results_table()
    assert [module.target_of(p) for p in ((99.9, 0.1), (66.43, 0.63), (55.31, 0.73), (98.8, 0))] == \
        [99.8, 65.8, 54.58, 98.8]
    entry = {"split": "vinyals", "ways": 5, "shots": 5, "episodes": 1000, "queries": 15, "seed": 0, "ci95": 0.001}
    maml = {**card("m", method="maml"), "serves": [{"ways": 5, "shots": 5}],
            "evaluation": [{**entry, "accuracy": 0.998}]}
    published = {"maml": {(5, 5): (99.9, 0.1)}}
    fake_cards(monkeypatch, module, [maml])
    rows = module.table("omniglot", "vinyals", "conv4", [(5, 5)], published).splitlines()[2:]
    assert rows == ["| MAML | 99.8 ± 0.1 (99.9 ± 0.1 ✓) | `m` (100 / 100) |"]
    assert module.tally("omniglot", "vinyals", "conv4", [(5, 5)], published) == \
        "Published cells reached: 1 of 1 (a cell counts where any row of its method reaches it, the figure less " \
        "its published interval)."


def test_networks_on_the_papers_input_have_rows_and_a_tally_of_their_own(monkeypatch):
    """A card trained on the papers' binary input (``omniglot_input``) is a row of its own,
    under its method's; it never stands in for the method's main row in the first count, and
    its own cells are counted after it, only those it serves."""
    module = results_table()
    entry = {"split": "vinyals", "episodes": 1000, "ci95": 0.002}

    def measured(name, accuracies, **fields):
        return {**card(name), **fields, "serves": [{"ways": w, "shots": k} for w, k in accuracies],
                "evaluation": [{**entry, "ways": w, "shots": k, "accuracy": a} for (w, k), a in accuracies.items()]}

    grey = measured("p", {(5, 1): 0.9859, (20, 1): 0.9601})
    binary = measured("p-papers", {(5, 1): 0.9834, (20, 1): 0.9450}, omniglot_input="binary-nearest")
    published = {"protonet": {(5, 1): (98.8, 0), (20, 1): (96.0, 0), (5, 5): (99.7, 0)}}
    fake_cards(monkeypatch, module, [binary, grey])
    rows = module.table("omniglot", "vinyals", "conv4", [(5, 1), (20, 1), (5, 5)], published).splitlines()[2:]
    assert rows == ["| Prototypical Networks | 98.6 ± 0.2 (98.8) | 96.0 ± 0.2 (96.0 ✓) | no checkpoint | `p` (100 / 100) |",
                    "| Prototypical Networks, on the papers' input (binary characters) | 98.3 ± 0.2 (98.8) | "
                    "94.5 ± 0.2 (96.0) | not retrained | `p-papers` (100 / 100) |"]
    text = module.tally("omniglot", "vinyals", "conv4", [(5, 1), (20, 1), (5, 5)], published)
    assert text.startswith("Published cells reached: 1 of 3 ")
    assert text.endswith("On the papers' input, of the cells its networks serve: 0 of 2 reached. Short: "
                         "Prototypical Networks 5-way 1-shot: 98.34, 0.46 short of 98.8; "
                         "Prototypical Networks 20-way 1-shot: 94.50, 1.50 short of 96.0.")
    fake_cards(monkeypatch, module, [grey])
    assert "papers' input" not in module.tally("omniglot", "vinyals", "conv4", [(5, 1)], published)
    assert "papers' input" not in module.training_budget("omniglot", "vinyals", "conv4")  # not a missing recipe


def test_the_readmes_words_on_the_no_learning_row_quote_the_cards():
    """The paragraph under the tables quotes three cells (no learning, Prototypical Networks and the
    transfer Baseline, 5-way 1-shot characters): they are typed there, so they are held to the
    cards' recorded evaluations here."""
    import json
    import re

    readme = (ROOT / "README.md").read_text()
    said = re.search(r"Its distance from the rows\s+above is what learning bought: ([\d.]+)% against ([\d.]+)% on "
                     r"5-way 1-shot characters for Prototypical\s+Networks, and ([\d.]+)% already for the transfer "
                     r"Baseline", readme)
    assert said, "the paragraph's wording changed: update this test with it"

    def recorded(name: str) -> str:
        card = json.loads((ROOT / "checkpoints" / name / "card.json").read_text())
        main, = [e for e in card["evaluation"] if (e["ways"], e["shots"], e["episodes"]) == (5, 1, 1000)
                 and e.get("queries", 15) == 15 and not e.get("adapt_transductive") and not e.get("finetune_steps")]
        return f"{100 * main['accuracy']:.1f}"

    assert list(said.groups()) == [recorded("pixels-omniglot-vinyals"), recorded("protonet-omniglot-vinyals-1shot"),
                                   recorded("transfer-omniglot-vinyals-baseline")]
