"""Build hook: the wheel carries the top-level static/, templates/ and the committed models as app/_data/.

Everything else about the package is in pyproject.toml. In a checkout the app reads those folders where
they are (app/config.py); installed from a wheel it reads app/_data/.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# folder -> glob patterns of what ships; models/ holds only the committed files (built models are local)
PACKAGE_DATA = {
    "static": ["**/*"],
    "templates": ["**/*.html"],
    "models": ["lenet5.onnx", "lenet5.card.json", "imagenet_classes.tsv"],
}


class BuildPyWithData(build_py):
    """build_py, then copy the data folders into build/lib/app/_data/ (not for editable installs)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for folder, patterns in PACKAGE_DATA.items():
            for pattern in patterns:
                for src in sorted((HERE / folder).glob(pattern)):
                    if src.is_file() and "__pycache__" not in src.parts:
                        dst = Path(self.build_lib, "app", "_data", src.relative_to(HERE))
                        self.mkpath(str(dst.parent))
                        self.copy_file(str(src), str(dst))


setup(cmdclass={"build_py": BuildPyWithData})
