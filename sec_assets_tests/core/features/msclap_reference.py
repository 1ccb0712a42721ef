"""msclap's *own* preprocessing code, run without importing its wrapper module.

``msclap/CLAPWrapper.py`` imports torchaudio at module level, which does not load next to the CPU
torch. Its preprocessing methods themselves need only numpy, torch and ``random``; this helper
compiles those method definitions, unmodified, from the installed source file and binds them to a
small object. Only ``read_audio`` (torchaudio's file decoder) is replaced: it hands back the
tensor under test, so both paths start from the same samples.
"""

from __future__ import annotations

import ast
import collections
import importlib.util
import math
import random
import re
import types
from argparse import Namespace
from pathlib import Path
from typing import Any

import numpy as np
import torch

METHODS = (
    "default_collate",
    "load_audio_into_tensor",
    "preprocess_audio",
    "_get_audio_embeddings",
    "preprocess_text",
    "_get_text_embeddings",
)


def _wrapper_source() -> Path:
    spec = importlib.util.find_spec("msclap")
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "CLAPWrapper.py"


def msclap_methods() -> dict[str, Any]:
    source = _wrapper_source()
    tree = ast.parse(source.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "CLAPWrapper")
    defs = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name in METHODS]
    assert {d.name for d in defs} == set(METHODS), "msclap's wrapper changed: review this helper"
    namespace: dict[str, Any] = {
        "np": np,
        "torch": torch,
        "random": random,
        "collections": collections,
        "re": re,
        "math": math,
    }
    exec(compile(ast.Module(body=defs, type_ignores=[]), str(source), "exec"), namespace)
    return {name: namespace[name] for name in METHODS}


def msclap_wrapper(audio_encoder: Any, caption_encoder: Any, tokenizer: Any, text_model: str) -> Any:
    """An object with msclap's preprocessing methods; ``read_audio(key)`` returns ``tensors[key]``."""
    methods = msclap_methods()
    obj = types.SimpleNamespace()
    obj.args = Namespace(duration=7, sampling_rate=44100, text_model=text_model, text_len=77)
    obj.use_cuda = False
    obj.np_str_obj_array_pattern = re.compile(r"[SaUO]")
    obj.default_collate_err_msg_format = "default_collate: unsupported {}"
    obj.token_keys = ["input_ids", "attention_mask"]
    obj.clap = types.SimpleNamespace(audio_encoder=audio_encoder, caption_encoder=caption_encoder)
    obj.tokenizer = tokenizer
    obj.tensors = {}
    obj.read_audio = lambda key, resample=True: (obj.tensors[key], 44100)
    for name, fn in methods.items():
        setattr(obj, name, types.MethodType(fn, obj))
    return obj
