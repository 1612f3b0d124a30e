"""Reading a Docker build context's Dockerfile for the requirements it installs (kiln never runs Docker).

Azure ML builds an environment's ``build:`` context into an image. kiln builds venvs, so it
reads the Dockerfile instead: the pip requirement files (``pip install -r FILE``, ``uv pip install -r FILE`` too), conda files
(``conda env create|update -f FILE``, ``mamba``/``micromamba`` too) and packages (``pip install
NAME``, ``conda install NAME``) its ``RUN`` lines install, found in the context through the
``COPY``/``ADD`` lines that put them in the image, and the Python version of a ``python:X.Y``
base image. Everything else (``apt-get``, the base image's own contents) cannot be used and is
listed as such.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from kiln.errors import InvalidSpec
from kiln.specs.environment import BuildContext, CondaFile, EnvironmentSpec

PIP_PROGRAM = re.compile(r"^pip(\d(\.\d+)?)?$")
PYTHON_PROGRAM = re.compile(r"^python(\d(\.\d+)?)?$")
CONDA_PROGRAMS = {"conda", "mamba", "micromamba"}
PYTHON_IMAGE = re.compile(r"^(?:docker\.io/)?(?:library/)?python:(\d+\.\d+)(?:[.\-].*)?$")
# pip options that take a value (the value is not a package)
PIP_VALUE_OPTIONS = {
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root",
    "--trusted-host", "--timeout", "--retries", "--cache-dir", "--platform", "--python-version", "--only-binary",
    "--no-binary", "--progress-bar", "--upgrade-strategy", "--src", "--implementation", "--abi", "--log",
    "--proxy", "--cert", "--client-cert", "--global-option", "--config-settings", "-C", "--report",
}  # fmt: skip
CONDA_VALUE_OPTIONS = {"-c", "--channel", "-n", "--name", "-p", "--prefix", "--solver", "-r", "--root-prefix"}
TOOLING = {"pip", "setuptools", "wheel"}  # the installer itself: every kiln venv has pip already
SPLIT_COMMANDS = re.compile(r"&&|\|\||;|\|")


@dataclass
class DockerfileReading:
    """What a Dockerfile installs, as kiln can use it, and what it could not use."""

    base_image: str | None = None
    python: str | None = None  # X.Y of a python:X.Y base image
    requirement_files: list[str] = field(default_factory=list)  # context paths
    conda_files: list[str] = field(default_factory=list)  # context paths
    packages: list[str] = field(default_factory=list)  # pip requirements written in RUN lines
    conda_packages: list[str] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)  # why: one line each
    missing: list[str] = field(default_factory=list)  # requirement files kiln cannot find in the context
    ignored: list[str] = field(default_factory=list)  # RUN commands that install nothing kiln can use

    @property
    def finds_requirements(self) -> bool:
        return bool(self.requirement_files or self.conda_files or self.packages or self.conda_packages)

    def context_files(self) -> list[str]:
        """The files of the context the CLI/SDK must send."""
        return [*self.requirement_files, *self.conda_files]


@dataclass
class _Image:
    workdir: str = "/"
    files: dict[str, str] = field(default_factory=dict)  # path in the image → path in the context
    folders: list[tuple[str, str]] = field(default_factory=list)  # folder in the image → folder in the context

    def copy(self, sources: list[str], dest: str) -> None:
        target = self.absolute(dest)
        into_folder = dest.endswith("/") or dest in (".", "..") or len(sources) > 1
        for source in sources:
            context = _context_path(source)
            if context in ("", "."):
                self.folders.append((target, ""))
            elif into_folder:
                self.files[posixpath.join(target, posixpath.basename(context))] = context
                self.folders.append((target, context))
            else:
                self.files[target] = context
                self.folders.append((target, context))

    def absolute(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.workdir, path))

    def context_path(self, path: str) -> str | None:
        """Where a file a RUN line names came from in the context (None: no COPY brought it)."""
        target = self.absolute(path)
        if target in self.files:
            return self.files[target]
        for folder, context in reversed(self.folders):
            if target.startswith(folder.rstrip("/") + "/"):
                return posixpath.normpath(posixpath.join(context, target[len(folder.rstrip("/")) + 1 :]))
        return None


def read_dockerfile(text: str) -> DockerfileReading:
    reading, image = DockerfileReading(), _Image()
    for instruction, argument in _instructions(text):
        if instruction == "FROM":
            words = [w for w in argument.split() if not w.startswith("--")]
            reading.base_image = words[0] if words else None
            match = PYTHON_IMAGE.match(reading.base_image or "")
            reading.python = match.group(1) if match else None
            image = _Image()
        elif instruction == "WORKDIR":
            image.workdir = image.absolute(argument.strip())
        elif instruction in ("COPY", "ADD"):
            words = _words(argument)
            words = [w for w in words if not w.startswith("--")]
            if len(words) >= 2:
                image.copy(words[:-1], words[-1])
        elif instruction == "RUN":
            for command in SPLIT_COMMANDS.split(argument):
                _read_command(command.strip(), image, reading)
    return reading


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, argument) per instruction: continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.strip().partition(" ")
        found.append((word.upper(), rest.strip()))
        current = ""
    if current.strip():
        word, _, rest = current.strip().partition(" ")
        found.append((word.upper(), rest.strip()))
    return found


def _words(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("["):  # exec form: ["a", "b"]
        return re.findall(r'"((?:[^"\\]|\\.)*)"', text)
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _context_path(source: str) -> str:
    return posixpath.normpath(source.lstrip("/")) if source not in ("", ".", "./") else ""


def _read_command(command: str, image: _Image, reading: DockerfileReading) -> None:
    words = _words(command)
    while words and ("=" in words[0] and not words[0].startswith("-") or words[0] in ("sudo", "exec")):
        words = words[1:]  # VAR=value prefixes, sudo
    if not words:
        return
    program = posixpath.basename(words[0])
    if program in CONDA_PROGRAMS and len(words) > 2 and words[1] == "run":
        _read_command(shlex.join(_after_conda_run(words[2:])), image, reading)
        return
    if PIP_PROGRAM.match(program) and words[1:2] == ["install"]:
        _read_pip(words[2:], image, reading, command)
    elif PYTHON_PROGRAM.match(program) and words[1:4] == ["-m", "pip", "install"]:
        _read_pip(words[4:], image, reading, command)
    elif program == "uv" and words[1:3] == ["pip", "install"]:
        _read_pip(words[3:], image, reading, command)
    elif program in CONDA_PROGRAMS:
        _read_conda(program, words[1:], image, reading, command)
    elif command:
        reading.ignored.append(command)


def _after_conda_run(words: list[str]) -> list[str]:
    rest = list(words)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in CONDA_VALUE_OPTIONS and rest:
            rest.pop(0)
    return rest


def _read_pip(args: list[str], image: _Image, reading: DockerfileReading, command: str) -> None:
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        option, _, inline_value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if option in ("-r", "--requirement") or (arg.startswith("-r") and len(arg) > 2 and not arg.startswith("--")):
            value = inline_value or (arg[2:] if len(arg) > 2 and not arg.startswith("--") else None)
            if value is None and index < len(args):
                value, index = args[index], index + 1
            _add_file(value or "", image, reading, reading.requirement_files, command)
        elif option in ("-e", "--editable"):
            if not inline_value:
                index += 1
            reading.unusable.append(f"'{command}': an editable install of the context's code (kiln does not copy it)")
        elif option in ("-c", "--constraint"):
            if not inline_value:
                index += 1
            reading.unusable.append(f"'{command}': constraint files (the workspace server's pip configuration applies)")
        elif option in PIP_VALUE_OPTIONS:
            if not inline_value:
                index += 1
        elif arg.startswith("-"):
            continue
        elif "$" in arg:
            reading.unusable.append(f"'{command}': '{arg}' names a build variable kiln cannot know")
        elif _is_local_path(arg):
            reading.unusable.append(f"'{command}': '{arg}' is a local path (kiln does not copy the context)")
        elif re.split(r"[\s=<>!~\[;@]", arg, maxsplit=1)[0].lower() not in TOOLING:
            reading.packages.append(arg)


def _read_conda(program: str, args: list[str], image: _Image, reading: DockerfileReading, command: str) -> None:
    verb = args[:2] if args[:1] == ["env"] else args[:1]
    rest = args[len(verb) :]
    files: list[str] = []
    packages: list[str] = []
    index = 0
    while index < len(rest):
        arg = rest[index]
        index += 1
        option, _, inline_value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if option in ("-f", "--file"):
            value = inline_value or (rest[index] if index < len(rest) else "")
            index += 0 if inline_value else 1
            files.append(value)
        elif option in CONDA_VALUE_OPTIONS:
            index += 0 if inline_value else 1
        elif not arg.startswith("-"):
            packages.append(arg)
    if verb in (["env", "create"], ["env", "update"]) or (
        program == "micromamba" and verb in (["create"], ["install"])
    ):
        for value in files:
            _add_file(value, image, reading, reading.conda_files, command)
        if verb[:1] != ["env"]:
            reading.conda_packages.extend(packages)
    elif verb == ["install"]:
        if files:
            reading.unusable.append(f"'{command}': a conda package list file (write a conda environment file instead)")
        reading.conda_packages.extend(packages)
    elif verb not in (["clean"], ["run"]):
        reading.ignored.append(command)


def _add_file(path: str, image: _Image, reading: DockerfileReading, into: list[str], command: str) -> None:
    if not path or "$" in path or "://" in path:
        reading.missing.append(f"'{command}': '{path}' is not a file of the build context")
        return
    context = image.context_path(path)
    if context is None:
        reading.missing.append(f"'{command}': '{path}' is not copied from the build context by a COPY line")
    elif context not in into:
        into.append(context)


def _is_local_path(arg: str) -> bool:
    return arg in (".", "..") or arg.startswith(("./", "../", "/")) or arg.endswith((".whl", ".tar.gz", ".zip"))


def equivalent_spec(
    build: BuildContext, field_name: str = "build", has_python: Callable[[str], bool] = lambda _version: True
) -> tuple[EnvironmentSpec, list[str]]:
    """The environment the Dockerfile describes, as a conda file kiln builds, and notes on what was not used.

    InvalidSpec, naming what kiln read and what to write instead, when it installs nothing kiln can use."""
    reading = read_dockerfile(build.dockerfile or "")
    read = f"kiln read {build.dockerfile_path} (FROM {reading.base_image or '?'})"
    fix = "write the packages in the environment's conda_file or pip_requirements instead of build"
    if reading.missing:
        raise InvalidSpec(f"{field_name}: {read}: " + "; ".join(reading.missing) + f"; {fix}")
    if not reading.finds_requirements:
        skipped = "; ".join(f"'{c}'" for c in reading.ignored) or "no RUN line"
        reasons = "; ".join(reading.unusable)
        raise InvalidSpec(
            f"{field_name}: {read} and found no pip or conda install kiln can use (kiln does not run Docker "
            f"builds; it uses the requirement files a Dockerfile installs with pip install -r FILE or "
            f"conda env create/update -f FILE). Not usable: {skipped}{'; ' + reasons if reasons else ''}; {fix}"
        )
    dependencies: list[Any] = []
    pip_lines: list[str] = []
    python_pins: list[str] = []
    for path in reading.conda_files:
        conda = _conda_file(build, path, field_name)
        for entry in conda.dependencies:
            if isinstance(entry, dict):
                pip_lines.extend(entry.get("pip", []))
                entry = {k: v for k, v in entry.items() if k != "pip"}
                if entry:
                    dependencies.append(entry)
            elif re.match(r"^python\s*[=<>]", entry) or entry.strip() == "python":
                python_pins.append(entry)
            else:
                dependencies.append(entry)
    for path in reading.requirement_files:
        pip_lines.extend(_file(build, path, field_name).splitlines())
    dependencies.extend(reading.conda_packages)
    pip_lines.extend(reading.packages)
    notes = [f"{read}: used " + ", ".join(_used(reading))]
    if python_pins:
        dependencies.insert(0, python_pins[0])
    elif reading.python and has_python(reading.python):
        dependencies.insert(0, f"python={reading.python}")
    elif reading.python:
        notes.append(f"the base image's python {reading.python} is not on the workspace server: its own python is used")
    not_used = [f"'{c}'" for c in reading.ignored] + reading.unusable
    if not_used:
        notes.append("not used (kiln does not run Docker builds): " + "; ".join(not_used))
    conda = CondaFile(dependencies=[*dependencies, {"pip": pip_lines}])
    return EnvironmentSpec(conda_file=conda), notes


def _used(reading: DockerfileReading) -> list[str]:
    used = [f"{p} (pip -r)" for p in reading.requirement_files] + [f"{p} (conda)" for p in reading.conda_files]
    if reading.packages:
        used.append("pip install " + " ".join(reading.packages))
    if reading.conda_packages:
        used.append("conda install " + " ".join(reading.conda_packages))
    if reading.python:
        used.append(f"the python {reading.python} of the base image")
    return used


def _file(build: BuildContext, path: str, field_name: str) -> str:
    if path not in build.files:
        raise InvalidSpec(
            f"{field_name}: the Dockerfile installs from '{path}', which is not in the build context "
            f"'{build.path}' (put it there, or write the packages in conda_file or pip_requirements)"
        )
    return build.files[path]


def _conda_file(build: BuildContext, path: str, field_name: str) -> CondaFile:
    where = f"{field_name}.files['{path}']"
    try:
        data = yaml.safe_load(_file(build, path, field_name))
        return CondaFile.model_validate(data)
    except yaml.YAMLError as exc:
        raise InvalidSpec(f"{where}: not a YAML file: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidSpec(
            f"{where}: not a conda environment file: {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from None
