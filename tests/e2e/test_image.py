# SPDX-License-Identifier: Apache-2.0
"""The OCI image (`make image`, scripts/image.sh): built with buildah FROM
scratch out of the release binary, into a temporary storage root (the
machine's own buildah storage is never touched), then checked: its size,
its files (no shell), its configuration (user 65532, entrypoint, labels) and
that `gatehouse version` runs inside it as user 65532.

Skipped, with the reason, when buildah is not on PATH (scripts/deps.sh image)
or there is no release build (make release): the image is made from
build-release, never from the sanitizer build under test.

Sizes: the bar (15 MB) is on the image as a registry stores and pulls it,
the OCI archive (config, manifest and the gzip-compressed layer). The
uncompressed size (the sum of the layer's files, what `buildah images` shows)
is printed and bounded separately: most of it is Debian's libcurl and what
it links (test_size prints every file
with its size under `pytest -s`).
"""
import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE_BIN = os.path.join(ROOT, "build-release", "src", "cmd", "gatehouse")
SCRIPT = os.path.join(ROOT, "scripts", "image.sh")
MB = 1000 * 1000
MAX_ARCHIVE = 15 * MB        # the image as pulled (compressed)
MAX_UNCOMPRESSED = 25 * MB   # a regression guard: 22.8 MB with Debian 12's libraries (10.1 MB of them libcurl and what only it links)


def _buildah(store, *args, timeout=60):
    cmd = ["buildah", "--storage-driver", "vfs", "--root", store["root"],
           "--runroot", store["runroot"], *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _blob(tar, digest):
    algo, hexd = digest.split(":", 1)
    return tar.extractfile(f"blobs/{algo}/{hexd}").read()


@pytest.fixture(scope="module")
def image():
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not on PATH (scripts/deps.sh image installs it): image not tested")
    if not os.access(RELEASE_BIN, os.X_OK):
        pytest.skip(f"no release build at {RELEASE_BIN} (make release): image not tested")
    tmp = tempfile.mkdtemp(prefix="gatehouse-image-")
    store = {"root": os.path.join(tmp, "root"), "runroot": os.path.join(tmp, "runroot")}
    archive = os.path.join(tmp, "image.tar")
    try:
        out = subprocess.run([SCRIPT, "--root", store["root"], "--runroot", store["runroot"],
                              "--archive", archive, RELEASE_BIN],
                             capture_output=True, text=True, timeout=50)
        assert out.returncode == 0, f"image.sh failed:\n{out.stdout}\n{out.stderr}"
        name = out.stdout.splitlines()[0].strip()
        assert name.startswith("localhost/gatehouse:"), out.stdout
        yield {"store": store, "name": name, "archive": archive}
    finally:
        if os.path.isdir(store["root"]):
            _buildah(store, "rm", "--all")
            _buildah(store, "rmi", "--all", "--force")
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def layout(image):
    """The archive read back: config and every file of the one layer."""
    with tarfile.open(image["archive"]) as t:
        index = json.loads(t.extractfile("index.json").read())
        manifest = json.loads(_blob(t, index["manifests"][0]["digest"]))
        config = json.loads(_blob(t, manifest["config"]["digest"]))
        files = {}
        for layer in manifest["layers"]:
            data = _blob(t, layer["digest"])
            if layer["mediaType"].endswith("gzip"):
                data = gzip.decompress(data)
            with tarfile.open(fileobj=io.BytesIO(data)) as lt:
                for m in lt.getmembers():
                    files["/" + m.name.lstrip("./")] = m
    return {"config": config, "files": files, "layers": manifest["layers"]}


@pytest.mark.deadline(60)
def test_size(image, layout):
    archive = os.path.getsize(image["archive"])
    regular = {p: m.size for p, m in layout["files"].items() if m.isfile()}
    total = sum(regular.values())
    print(f"\nimage {image['name']}: archive {archive} bytes (compressed), "
          f"files {total} bytes uncompressed")
    for p, s in sorted(regular.items(), key=lambda kv: -kv[1]):
        print(f"  {s:>9}  {p}")
    assert archive < MAX_ARCHIVE, f"image archive is {archive} bytes, over {MAX_ARCHIVE}"
    assert total < MAX_UNCOMPRESSED, f"image files total {total} bytes, over {MAX_UNCOMPRESSED}"


@pytest.mark.deadline(60)
def test_contents(layout):
    files = layout["files"]
    for path in ("/gatehouse", "/etc/ssl/certs/ca-certificates.crt", "/etc/passwd", "/etc/group"):
        assert path in files, f"{path} missing from the image"
    assert any(os.path.basename(p).startswith("ld-linux") for p in files), "no dynamic loader"
    assert any(os.path.basename(p) == "libc.so.6" for p in files), "no libc"
    for shell in ("/bin/sh", "/usr/bin/sh", "/bin/bash", "/bin/dash", "/usr/bin/apt-get",
                  "/usr/bin/dpkg", "/bin/busybox"):
        assert shell not in files, f"{shell} is in the image"
    # Only the binary, shared objects, the CA bundle and passwd/group.
    for path, m in files.items():
        if m.isfile():
            assert (path in ("/gatehouse", "/etc/ssl/certs/ca-certificates.crt", "/etc/passwd",
                             "/etc/group") or ".so" in os.path.basename(path)), \
                f"unexpected file {path} in the image"


@pytest.mark.deadline(60)
def test_config(layout):
    c = layout["config"]["config"]
    assert c["User"] == "65532:65532"
    assert c["Entrypoint"] == ["/gatehouse"]
    assert c["Cmd"] == ["run", "--kubernetes"]
    labels = c["Labels"]
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.version"]
    assert labels["org.opencontainers.image.source"]


@pytest.mark.deadline(60)
def test_runs_as_nonroot(image):
    store = image["store"]
    out = _buildah(store, "from", "--pull-never", image["name"])
    assert out.returncode == 0, out.stderr
    ctr = out.stdout.strip()
    try:
        # The container's own user (the config's), and 65532 explicitly.
        for user in ([], ["--user", "65532:65532"]):
            run = _buildah(store, "run", "--isolation", "chroot", *user, ctr, "--",
                           "/gatehouse", "version")
            assert run.returncode == 0, run.stderr
            assert "gatehouse.dev/gateway-controller" in run.stdout, run.stdout
            # libcurl (loaded by the Kubernetes mode only) and what it needs.
            assert "kubernetes client: libcurl" in run.stdout, run.stdout
        shell = _buildah(store, "run", "--isolation", "chroot", ctr, "--", "/bin/sh", "-c", "true")
        assert shell.returncode != 0, "a shell ran inside the image"
    finally:
        _buildah(store, "rm", ctr)
