"""End to end on the fault matrix: `dvc repro` of a tiny config on a Kaggle root with every fault at once succeeds,
and the report's "Skipped inputs" section shows each count."""
import json
import subprocess

import pytest
import yaml

from conftest import REPO, make_faulty_kaggle, project_copy, tiny_clip_kwargs, write_jpeg

pytestmark = pytest.mark.e2e

# Class names and CLIP words that would run script if any page put them into HTML unescaped, or linked them.
HOSTILE_NAMES = {"n01": "<img src=x onerror=window.__pwned=1>", "n02": "[click](javascript:window.__pwned=2)"}
HOSTILE_WORDS = ["<script>window.__pwned=3</script>", "\" onmouseover=\"window.__pwned=4", "javascript:alert(5)",
                 "red", "blue"]

COLOURS = {"n01": (200, 30, 40), "n02": (30, 60, 210)}


def _grow(root, train_per_class=8, val_per_class=4):
    """Clean images beside the faults so that every stage has enough to work on; one truncated val image more."""
    from vitviz.data.voc import Box, VocObject, write_voc_xml
    d, a = root / "ILSVRC" / "Data" / "CLS-LOC", root / "ILSVRC" / "Annotations" / "CLS-LOC"
    for w, rgb in COLOURS.items():
        for i in range(train_per_class):
            write_jpeg(d / "train" / w / f"{w}_x{i}.JPEG", rgb, (16, 14))
    sol = (root / "LOC_val_solution.csv").read_text()
    n = 10
    for w, rgb in COLOURS.items():
        for _ in range(val_per_class):
            stem = f"ILSVRC2012_val_{n:08d}"
            write_jpeg(d / "val" / f"{stem}.JPEG", rgb, (16, 14))
            write_voc_xml(a / "val" / f"{stem}.xml", folder="val", filename=stem, width=16, height=14,
                          objects=[VocObject(w, Box(3, 3, 12, 11))])
            sol += f"{stem},{w} 3 3 12 11 \n"
            n += 1
    good = (d / "val" / "ILSVRC2012_val_00000010.JPEG").read_bytes()
    (d / "val" / "ILSVRC2012_val_00000099.JPEG").write_bytes(good[: len(good) // 3])   # truncated val JPEG
    write_voc_xml(a / "val" / "ILSVRC2012_val_00000099.xml", folder="val", filename="ILSVRC2012_val_00000099",
                  width=16, height=14, objects=[VocObject("n01", Box(3, 3, 12, 11))])
    sol += "ILSVRC2012_val_00000099,n01 3 3 12 11 \n"
    (root / "LOC_val_solution.csv").write_text(sol)
    (root / "LOC_synset_mapping.txt").write_text("".join(f"{w} {name}, thing\n" for w, name in HOSTILE_NAMES.items()))


def sh(args, cwd, env):
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def faulty_repo(tmp_path_factory):
    """A git copy of the project whose params (configs/smoke.yaml) read the fault-matrix root, reproduced once."""
    base = tmp_path_factory.mktemp("faulty")
    root = make_faulty_kaggle(base / "imagenet")
    _grow(root)
    params = yaml.safe_load((REPO / "configs" / "smoke.yaml").read_text())
    params["prepare_data"].update(source="imagenet", imagenet_root=str(root))
    del params["models"]["resnet_demo"]  # one model is enough here, and keeps the test fast
    for section in ("mask_eval", "lowpass_eval"):
        params[section]["models"] = ["vit_demo"]
    params["score_features"]["models"] = []  # its similarity model is resnet_demo
    # a tiny CLIP from a local file, so that CLIP concept labels (from a hostile vocabulary) reach report and atlas
    import open_clip
    import torch
    kw = tiny_clip_kwargs()
    torch.manual_seed(0)
    torch.save(open_clip.create_model("ViT-B-32", pretrained=None, **kw).state_dict(), base / "clip.pt")
    (base / "words.txt").write_text("\n".join(HOSTILE_WORDS) + "\n")
    params["models"]["clip"] = {"source": "file", "library": "open_clip", "name": "ViT-B-32",
                                "file": str(base / "clip.pt"), "kwargs": kw}
    for section in ("optimize_features", "mine_exemplars", "atlas"):
        params[section]["models"] = ["vit_demo", "clip"]
    params["mine_exemplars"]["concepts"].update(enabled=True, vocabulary=str(base / "words.txt"))
    dst = base / "repo"
    env = project_copy(dst, yaml.safe_dump(params, sort_keys=False), "faulty")
    out = sh(["dvc", "repro"], dst, env)
    return dst, out


def _table(md, caption):
    """The rows of the markdown table under `caption`, as lists of stripped cells (header and rule dropped)."""
    part = md[md.index(caption):]
    lines = []
    for ln in part.splitlines()[1:]:
        if ln.startswith("|"):
            lines.append([c.strip() for c in ln.strip().strip("|").split("|")])
        elif lines:
            break
    return lines[2:]


def test_repro_succeeds_and_the_report_counts_every_fault(faulty_repo):
    dst, out = faulty_repo
    for stage in ("check_params", "prepare_data", "download_models@vit_demo", "optimize_features@vit_demo",
                  "mine_exemplars@vit_demo", "mask_eval@vit_demo", "lowpass_eval@vit_demo", "token_mixing@vit_demo",
                  "appendix_f@vit_demo", "atlas@vit_demo", "report"):
        assert f"Running stage '{stage}'" in out
    md = (dst / "reports/report.md").read_text()
    assert "## Skipped inputs" in md
    index = {(r[0], r[1]): int(r[2]) for r in _table(md, "What the index repaired or left out")}
    assert index == {
        ("train", "box XML malformed or with non-numeric coordinates: image kept, without boxes"): 2,
        ("train", "box XML without a box of the image's class: not 'with true box'"): 1,
        ("train", "box with swapped corners: put in order"): 1,
        ("train", "file that is not an image (e.g. README.txt): ignored"): 1,
        ("val", "box outside the image: clipped to it"): 1,
        ("classes", "empty class folder, left out of the classes: n03"): 1,
    }
    passes = {(r[0], r[1]): (r[2], int(r[3]), int(r[4])) for r in _table(md, "Images each pass skipped")}
    val = 2 + 2 * 4 + 1          # make_kaggle's two, the clean ones, the truncated one
    assert passes == {**{(p, "vit_demo"): ("val", val - 1, 1)
                         for p in ("evaluation", "mine_exemplars", "mask_eval", "lowpass_eval", "token_mixing")},
                      ("mine_exemplars", "clip"): ("val", val - 1, 1)}     # CLIP has no classes to evaluate
    mask = json.loads((dst / "data/mask_eval/vit_demo.json").read_text())
    assert (mask["images"], mask["skipped"], mask["excluded_not_annotated"]) == (val - 1, 1, 0)
    metrics = json.loads((dst / "reports/metrics.json").read_text())
    assert metrics["skipped_images"] == 6     # the truncated val image, once per pass (the CLIP's mining too)
    meta = json.loads((dst / "data/dataset/meta.json").read_text())
    assert meta["splits"]["val"]["images"] == val and meta["faults"]["empty_class_folders"] == ["n03"]


def test_hostile_class_names_and_clip_words_run_no_script(faulty_repo, tmp_path):
    """The report and the atlases built from hostile class names and CLIP words, opened in Chromium with every
    dialog and error event recorded before any page script: nothing runs, and the texts show literally."""
    from selenium.webdriver.common.by import By

    from test_atlas_browser import HOOKS, fresh, open_browser
    dst, _ = faulty_repo
    md = (dst / "reports/report.md").read_text()
    assert "<img src=x" not in md and "](javascript:" not in md.replace("\\](javascript:", "")   # inert in the twin
    concepts = (dst / "data/exemplars/clip/concepts.csv").read_text()
    assert "<script>window.__pwned=3</script>" in concepts           # the hostile words did become labels
    drv = open_browser(tmp_path / "profile")
    drv.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOKS})
    try:
        pages = [((dst / "reports/report.html").as_uri(), None)]
        for key in ("vit_demo", "clip"):
            base = (dst / "atlas" / key / "index.html").as_uri()
            pages += [(base, "overview"), (base + "#L0/ffn", "layer"), (base + "#L0/ffn/0", "feature"),
                      (base + "#L1/ffn/0", "feature"), (base + "#search/thing", "search"),
                      (base + "#search/" + "%3Cimg", "search"), (base + "#search/javascript", "search")]
        seen = ""
        for url, kind in pages:
            if kind is None:
                drv.get(url)
            else:
                fresh(drv, url, kind)
            got = drv.execute_script("""return {fired: window.__fired, pwned: window.__pwned || null,
                handlers: document.querySelectorAll('[onerror], [onmouseover], [onload], [onclick]').length,
                js: Array.from(document.querySelectorAll('a[href], img[src], iframe[src]'))
                      .map(e => e.getAttribute('href') || e.getAttribute('src'))
                      .filter(u => /^\\s*javascript:/i.test(u))}""")
            assert got == {"fired": [], "pwned": None, "handlers": 0, "js": []}, (url, got)
            seen += drv.find_element(By.TAG_NAME, "body").text
        assert HOSTILE_NAMES["n01"] in seen and "<script>window.__pwned=3</script>" in seen   # shown as text
    finally:
        drv.quit()
