"""The NumPy engine's steps are declared by the injectors: every ``numpy_step`` has its module in
``audionoise.offline.numpy_steps`` and every module its declaration, and a module implements only fields of the
injector's own constructor. The engine itself keeps no list of injector names."""

from __future__ import annotations

import inspect
from pathlib import Path

import audionoise.transforms  # noqa: F401  (fills the registry)
from audionoise.offline import numpy_engine
from audionoise.offline.numpy_steps import steps
from audionoise.transforms import REGISTRY


def test_every_declared_step_has_its_module_and_every_module_its_declaration():
    modules = steps()
    declared = {name: cls.numpy_step for name, cls in REGISTRY.items() if cls.numpy_step is not None}
    assert declared, "no injector declares a NumPy step"
    for name, step in declared.items():
        assert name in modules, f"{name}.numpy_step = {step!r} but no module of numpy_steps has INJECTOR = {name!r}"
        assert modules[name].__name__.rsplit(".", 1)[1] == step, f"{name}: declared {step!r}, module " \
                                                                 f"{modules[name].__name__}"
    for name, module in modules.items():
        assert name in REGISTRY, f"{module.__name__}: INJECTOR {name!r} is not an injector"
        assert declared.get(name) == module.__name__.rsplit(".", 1)[1], \
            f"{module.__name__} runs {name} but {name}.numpy_step is {REGISTRY[name].numpy_step!r}"


def test_a_step_implements_only_the_injectors_own_fields():
    for name, module in steps().items():
        params = set(inspect.signature(REGISTRY[name].__init__).parameters) - {"self"}
        assert module.FIELDS <= params, f"{module.__name__}: fields {sorted(module.FIELDS - params)} are not " \
                                        f"constructor fields of {name}"
        assert callable(module.parse) and callable(module.apply)


def test_the_engine_names_no_injector():
    source = Path(numpy_engine.__file__).read_text(encoding="utf-8")
    code = source.split('"""', 2)[2]  # past the module docstring
    named = [name for name in REGISTRY if f'"{name}"' in code or f"'{name}'" in code]
    assert not named, f"numpy_engine.py names injectors {named}: declare them on the injector instead"


def test_a_config_with_an_injector_without_a_step_goes_to_torch():
    assert REGISTRY["ColoredNoise"].numpy_step is None
    assert numpy_engine.plan({"transforms": [{"name": "ColoredNoise", "min_snr_db": 0, "max_snr_db": 1}]}, 16000) \
        is None
    # a field the step does not implement: torch too
    assert numpy_engine.plan({"transforms": [{"name": "Gain", "min_db": 0, "max_db": 1}]}, 16000) is not None
    assert numpy_engine.plan({"transforms": [{"name": "Gain", "min_db": 0, "max_db": 1, "other": 2}]}, 16000) is None
