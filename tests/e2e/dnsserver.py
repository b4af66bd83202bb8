# SPDX-License-Identifier: Apache-2.0
"""A tiny DNS server for the XBackend tests (there is no DNS server package
to rely on): UDP on a loopback address, names the test sets, NXDOMAIN for
the others."""
import socket
import struct
import threading

from conftest import random_ports


class DNSServer:
    """A UDP DNS responder: names -> (ttl, [addresses]); A and AAAA from
    the addresses of that family (none: NOERROR without answers); an
    unknown name answers NXDOMAIN. Counts the queries per name."""

    def __init__(self, addr):
        self.addr = addr
        self.names = {}
        self.queries = {}
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(50):
            self.port = random_ports(1)[0] + 20000
            try:
                self.sock.bind((addr, self.port))
                break
            except OSError:
                continue
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def set(self, name, ttl, addrs):
        with self.lock:
            self.names[name] = (ttl, list(addrs))

    def count(self, name):
        with self.lock:
            return self.queries.get(name, 0)

    def stop(self):
        self.stopped = True
        self.sock.close()

    def _serve(self):
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                reply = self._answer(data)
            except Exception:  # noqa: BLE001 - a malformed query: no answer
                continue
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                return

    def _answer(self, q):
        qid, _flags, qd = struct.unpack("!HHH", q[:6])
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii"))
            i += 1 + q[i]
        qtype, _qclass = struct.unpack("!HH", q[i + 1:i + 5])
        question = q[12:i + 5]
        name = ".".join(labels).lower()
        with self.lock:
            self.queries[name] = self.queries.get(name, 0) + 1
            entry = self.names.get(name)
        answers = []
        if entry:
            ttl, addrs = entry
            for a in addrs:
                fam = socket.AF_INET6 if ":" in a else socket.AF_INET
                if (qtype == 1 and fam == socket.AF_INET) or (qtype == 28 and fam == socket.AF_INET6):
                    rdata = socket.inet_pton(fam, a)
                    answers.append(struct.pack("!HHHIH", 0xC00C, qtype, 1, ttl, len(rdata)) + rdata)
        rcode = 0 if entry else 3
        head = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, 0)
        return head + question + b"".join(answers)
