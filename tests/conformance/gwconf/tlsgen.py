# SPDX-License-Identifier: Apache-2.0
"""The TLS material of cases/_fixtures.yaml, generated with the openssl CLI.

Every key, CSR and certificate is written under a caller-supplied work
directory (a temp dir); the result is a list of Kubernetes objects: Secrets
of type kubernetes.io/tls (base64 data) and ConfigMaps holding ca.crt and
key.crt (plain text, as ConfigMap data is).
"""
import base64
import ipaddress
import os
import re
import subprocess

from .model import Ref, RunnerError

CA_SUBJECT = "/C=US/O=Kubernetes Gateway API/CN=gatewayapi"
LEAF_SUBJECT = "/O=Acme Co/CN=default"
_DNS = re.compile(r"^(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")


def san_entry(s):
    """Upstream's rule: an IP -> IP SAN, a DNS name (maybe `*.`) -> DNS SAN, else URI SAN."""
    try:
        ipaddress.ip_address(s)
        return "IP:" + s
    except ValueError:
        pass
    if _DNS.match(s):
        return "DNS:" + s
    return "URI:" + s


def _openssl(args, cwd):
    proc = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RunnerError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()[-400:]}")


def _read(path):
    with open(path) as fh:
        return fh.read()


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _slug(ref):
    return str(ref).replace("/", "_")


class FixtureMaker:
    def __init__(self, workdir):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.serial = 3000

    def keygen(self, names):
        """RSA 2048 keys for all names at once (openssl processes in parallel)."""
        procs = []
        for name in names:
            path = os.path.join(self.dir, name + ".key")
            # -traditional: PKCS#1 "RSA PRIVATE KEY", as upstream writes it.
            procs.append((path, subprocess.Popen(
                ["openssl", "genrsa", "-traditional", "-out", path, "2048"], cwd=self.dir,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
        for path, proc in procs:
            _out, err = proc.communicate()
            if proc.returncode != 0:
                raise RunnerError(f"openssl genrsa failed: {err.strip()[-400:]}")

    def _key(self, name):
        path = os.path.join(self.dir, name + ".key")
        if not os.path.exists(path):
            self.keygen([name])
        return path

    def make_ca(self, name):
        key = self._key(name)
        crt = os.path.join(self.dir, name + ".crt")
        _openssl(["req", "-x509", "-new", "-key", key, "-out", crt, "-days", "365",
                  "-subj", CA_SUBJECT, "-set_serial", "2024",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
                  "-addext", "extendedKeyUsage=clientAuth,serverAuth"], self.dir)
        return key, crt

    def make_leaf(self, name, sans, eku, ca=None):
        """A leaf certificate; self-signed when `ca` is None, else signed by (key, crt)."""
        key = self._key(name)
        crt = os.path.join(self.dir, name + ".crt")
        ext = ["basicConstraints=critical,CA:FALSE",
               "keyUsage=critical,keyEncipherment,digitalSignature",
               "extendedKeyUsage=" + ",".join(eku)]
        if sans:
            ext.append("subjectAltName=" + ",".join(san_entry(s) for s in sans))
        self.serial += 1
        if ca is None:
            args = ["req", "-x509", "-new", "-key", key, "-out", crt, "-days", "365",
                    "-subj", LEAF_SUBJECT, "-set_serial", str(self.serial)]
            for e in ext:
                args += ["-addext", e]
            _openssl(args, self.dir)
        else:
            csr = os.path.join(self.dir, name + ".csr")
            extfile = os.path.join(self.dir, name + ".ext")
            with open(extfile, "w") as fh:
                fh.write("\n".join(ext) + "\n")
            _openssl(["req", "-new", "-key", key, "-out", csr, "-subj", LEAF_SUBJECT], self.dir)
            _openssl(["x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-out", crt,
                      "-days", "365", "-set_serial", str(self.serial), "-extfile", extfile],
                     self.dir)
        return key, crt


_EKU = {"serverAuth": "serverAuth", "clientAuth": "clientAuth"}


def generate(fixtures, workdir):
    """Returns (objects, files): the Secrets/ConfigMaps, and {Ref: {"crt", "key"}} paths."""
    mk = FixtureMaker(workdir)
    mk.keygen([_slug(Ref.parse(ca["configmap"])) for ca in fixtures.get("cas") or []] +
              [_slug(Ref.parse(s["secret"])) for s in fixtures.get("secrets") or []])
    cas = {}
    objects = []
    files = {}
    for ca in fixtures.get("cas") or []:
        ref = Ref.parse(ca["configmap"])
        key, crt = mk.make_ca(_slug(ref))
        cas[ca["id"]] = (key, crt)
        files[ref] = {"crt": crt, "key": key}
        objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": ref.name, "namespace": ref.namespace},
                        "data": {"ca.crt": _read(crt), "key.crt": _read(key)}})
    for sec in fixtures.get("secrets") or []:
        ref = Ref.parse(sec["secret"])
        kind = sec.get("kind", "")
        signer = None
        m = re.search(r"signed by (ca-[a-z0-9-]+)", kind)
        if m:
            if m.group(1) not in cas:
                raise RunnerError(f"_fixtures.yaml: {ref}: unknown CA {m.group(1)}")
            signer = cas[m.group(1)]
        elif "self-signed" not in kind:
            raise RunnerError(f"_fixtures.yaml: {ref}: cannot tell how to sign {kind!r}")
        eku = [_EKU[e] for e in sec.get("ext_key_usage") or ["serverAuth"]]
        key, crt = mk.make_leaf(_slug(ref), sec.get("sans") or [], eku, signer)
        files[ref] = {"crt": crt, "key": key}
        objects.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                        "metadata": {"name": ref.name, "namespace": ref.namespace},
                        "data": {"tls.crt": _b64(_read(crt)), "tls.key": _b64(_read(key))}})
    return objects, files
