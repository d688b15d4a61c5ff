"""Heavy modules our processes import but never use, run only on first use (issue #11).

Rasa imports TensorFlow from modules every process loads (rasa.core.policies.policy ->
featurizers -> rasa.nlu.extractors.extractor -> rasa.utils.train_utils ->
rasa.utils.tensorflow.callback, whose classes subclass Keras ones), though the pipeline and
policies in config.yml use none of it: 5-8 s of CPU and ~0.4 GB per cold process. spaCy's
thinc imports it too when it is installed. `install()`, called by our launchers before Rasa
or spaCy is imported (xiaoer.serve, desk/__main__.py), makes those modules *deferred*:
`import tensorflow` binds a module object at once and the module's code runs the first time
an attribute of it is used (`tf.keras`, `tf.constant`) or a submodule of it is imported. A
config that does use DIET or TED still works: loading its model touches TensorFlow, which is
then imported in full, as before (tests/speed/test_lazy_imports.py trains and loads one).

Why not importlib.util.LazyLoader itself: on Python 3.10 its module loads on *any* attribute
access, `__spec__` included, and the import statement reads `__spec__` of a module already in
sys.modules, so the second `import tensorflow` of the process (Rasa has a dozen) loaded it.
A deferred module here carries its own `__name__`, `__spec__`, `__file__`, so the import
system can look at it without running it; `__path__` is left out on purpose, so that
importing a submodule (real use) runs the package first.

thinc (spaCy's layers library) asks TensorFlow for its GPUs while it is imported, which would
load it anyway. spaCy's pipelines here (blank zh, the guard; Rasa's SpacyNLP) never use
thinc's TensorFlow wrappers, so thinc.compat, when imported, runs with TensorFlow hidden and records
"no TensorFlow" (`thinc.compat.has_tensorflow` False); Rasa's own import of TensorFlow is
not affected. XIAOER_LAZY_IMPORTS=false imports everything as before (benchmarks/memory.py
compares both ways).
"""

from __future__ import annotations

import abc
import importlib.abc
import importlib.machinery
import os
import sys
import threading
import types
from typing import Dict, Iterable, Optional

# modules whose code runs on first use (a package's submodules are imported as usual once it ran).
# keras/tensorflow_*: imported only through TensorFlow or Rasa's TF components; h5py: thinc's
# optional model serialisation (Keras's too), 12 MB.
DEFERRED = (
    "tensorflow",
    "keras",
    "tensorflow_hub",
    "tensorflow_text",
    "tensorflow_addons",
    "h5py",
    # Rasa's TensorFlow helpers, imported at the top of modules every process loads and used only
    # by DIET/TED/ResponseSelector (training callbacks, data generators, layers)
    "rasa.utils.train_utils",
    "rasa.utils.tensorflow.callback",
    "rasa.utils.tensorflow.data_generator",
    # matplotlib, for `rasa test` plots only (7 MB)
    "rasa.utils.plotting",
)

# classes that stand for themselves until used. Loading a Rasa model reads its metadata, which
# names the training graph's components, and Rasa imports each of them: the default recipe's
# config validator imports DIETClassifier, ResponseSelector and TEDPolicy (Keras subclasses)
# at its top, only to compare component classes before a training run, which a server never
# starts. The model's training graph then refers to a stand-in (its real module and name) that
# becomes the real validator on first use: an attribute, a call, isinstance/issubclass.
# Each stand-in is registered as a virtual subclass of the abstract base named beside it, so a
# training run in such a process still finds it a GraphComponent (rasa.engine.validation).
DEFERRED_CLASSES = {
    "rasa.graph_components.validators.default_recipe_validator": {
        "DefaultV1RecipeValidator": "rasa.engine.graph.GraphComponent",
    },
}

# modules run with TensorFlow hidden: thinc decides at its import whether TensorFlow is there
# (and asks it for GPUs, which loads it)
WITHOUT_TENSORFLOW = ("thinc.compat",)

_lock = threading.RLock()
_finder: Optional["DeferringFinder"] = None


class DeferredModule(types.ModuleType):
    """A module whose code has not run yet: the first attribute it does not have runs it."""

    def __getattr__(self, attr: str):
        spec = self.__dict__.get("__spec__")
        if spec is None or not spec.loader.armed:
            # the import system is still filling in __file__, __cached__...: not a use
            raise AttributeError(attr)
        if attr in spec.loader.stand_ins:
            return spec.loader.stand_in(self, attr)
        if attr == "__path__" and spec.loader.real.submodule_search_locations is None:
            # `from module import name` asks whether the module is a package first: not a use
            raise AttributeError(attr)
        _load(self)
        return getattr(self, attr)

    def __dir__(self):
        _load(self)
        return dir(self)


class _StandInMeta(abc.ABCMeta):
    """The class of a stand-in: every use goes to the real class, loaded then."""

    def _real(cls) -> type:
        module = sys.modules[cls.__module__]
        if isinstance(module, DeferredModule):
            _load(module)
        return getattr(module, cls.__name__)

    def __getattr__(cls, attr: str):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)  # ABCMeta and copy/pickle probing: not a use
        return getattr(cls._real(), attr)

    def __call__(cls, *args, **kwargs):
        return cls._real()(*args, **kwargs)

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, cls._real())

    def __subclasscheck__(cls, sub) -> bool:
        if cls.__dict__["_registering"]:
            return False  # ABCMeta.register asking whether its base is a subclass of this one
        return sub is cls or issubclass(sub, cls._real())


class _DeferringLoader(importlib.abc.Loader):
    def __init__(self, real: importlib.machinery.ModuleSpec, stand_ins: Optional[Dict[str, str]] = None) -> None:
        self.real = real
        self.armed = False
        self.stand_ins = dict(stand_ins or {})
        self._made: Dict[str, type] = {}

    def stand_in(self, module: "DeferredModule", name: str) -> type:
        with _lock:
            if name not in self._made:
                made = _StandInMeta(
                    name, (), {"__module__": module.__name__, "__qualname__": name, "_registering": True}
                )
                base_module, _, base = self.stand_ins[name].rpartition(".")
                getattr(importlib.import_module(base_module), base).register(made)
                type.__setattr__(made, "_registering", False)
                self._made[name] = made
            return self._made[name]

    def create_module(self, spec):
        return DeferredModule(spec.name)

    def exec_module(self, module) -> None:
        self.armed = True  # the real code runs in _load, on first use


def _load(module: DeferredModule) -> None:
    with _lock:
        if type(module) is not DeferredModule:  # another thread loaded it meanwhile
            return
        real = module.__spec__.loader.real
        # from now on an ordinary module: what the real loader sets up, then its code
        object.__setattr__(module, "__class__", types.ModuleType)
        module.__spec__ = real
        module.__loader__ = real.loader
        module.__package__ = real.parent
        if real.submodule_search_locations is not None:
            module.__path__ = list(real.submodule_search_locations)
        if real.cached:
            module.__cached__ = real.cached
        real._initializing = True
        try:
            real.loader.exec_module(module)
        except BaseException:
            # as a failed import: gone from sys.modules, so the next import tries again and
            # raises the same error where it is used
            sys.modules.pop(real.name, None)
            raise
        finally:
            real._initializing = False


class DeferringFinder(importlib.abc.MetaPathFinder):
    def __init__(self, names: Iterable[str], classes: Dict[str, Dict[str, str]]) -> None:
        self.names = tuple(names) + tuple(classes)
        self.classes = {k: dict(v) for k, v in classes.items()}

    def find_spec(self, name, path=None, target=None):
        # the names themselves: a submodule of a deferred package is imported once the package
        # ran (importing it reads the package's __path__), as an ordinary module
        if name not in self.names and name not in WITHOUT_TENSORFLOW:
            return None
        real = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            real = finder.find_spec(name, path, target)
            if real is not None:
                break
        if real is None or real.loader is None or not hasattr(real.loader, "exec_module"):
            return real  # not installed (ImportError as usual), or a namespace package
        if name in WITHOUT_TENSORFLOW:
            real.loader = _WithoutTensorflow(real.loader)
            return real
        loader = _DeferringLoader(real, self.classes.get(name))
        spec = importlib.machinery.ModuleSpec(name, loader, origin=real.origin)
        spec.has_location = real.has_location
        return spec


def enabled() -> bool:
    return os.environ.get("XIAOER_LAZY_IMPORTS", "true").lower() not in ("0", "false", "no")


def install(names: Iterable[str] = DEFERRED, classes: Dict[str, Dict[str, str]] = DEFERRED_CLASSES) -> bool:
    """Defer `names` in this process (once; before they are imported). False when switched off
    by XIAOER_LAZY_IMPORTS=false."""
    global _finder
    if not enabled():
        return False
    with _lock:
        if _finder is None:
            _finder = DeferringFinder(names, classes)
            sys.meta_path.insert(0, _finder)
    return True


class _WithoutTensorflow(importlib.abc.Loader):
    """Runs a module (thinc.compat) with `import tensorflow` raising ImportError."""

    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module) -> None:
        hidden: Dict[str, object] = {}
        with _lock:
            for name in [n for n in sys.modules if n == "tensorflow" or n.startswith("tensorflow.")]:
                hidden[name] = sys.modules.pop(name)
            sys.modules["tensorflow"] = None  # type: ignore[assignment]
            try:
                self.real.exec_module(module)
            finally:
                del sys.modules["tensorflow"]
                sys.modules.update(hidden)  # type: ignore[arg-type]


def loaded(name: str) -> bool:
    """Whether `name` has been imported and its code has run (not merely deferred)."""
    module = sys.modules.get(name)
    return module is not None and not isinstance(module, DeferredModule)
