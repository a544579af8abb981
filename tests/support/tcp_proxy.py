"""A TCP proxy on loopback that a test can cut, to simulate a server outage.

Stopping a shared PostgreSQL or MariaDB server would break every other test
running against it; cutting the path between one engine and the server
shows that engine exactly what an outage shows it. While paused the proxy
refuses new connections (its port is closed) and has reset the live ones;
``resume`` listens on the same port again.

    with TcpProxy("127.0.0.1", 5432) as proxy:
        engine = create_engine(url.set(host="127.0.0.1", port=proxy.port))
        proxy.pause(); ...; proxy.resume()
"""
import socket
import struct
import threading

_CHUNK = 65536
_ACCEPT_POLL_S = 0.05


class TcpProxy:
    """Forwards every connection on ``127.0.0.1:<port>`` to ``target``."""

    def __init__(self, target_host, target_port, listen_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._pairs = set()
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True,
                                          name=f"tcp-proxy-{self.port}")
        self._acceptor.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    @property
    def paused(self):
        return self._listener is None

    def pause(self):
        """Refuse new connections and reset the live ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, set()
        if listener is not None:
            listener.close()
        for pair in pairs:
            _reset(*pair)

    def resume(self):
        """Accept and forward connections again, on the same port."""
        with self._lock:
            if self._listener is None:
                self._listener = self._listen(self.port)

    def close(self):
        self._closed.set()
        self.pause()
        self._acceptor.join(timeout=2)

    def _listen(self, port):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.listen_host, port))
        listener.listen(128)
        listener.settimeout(_ACCEPT_POLL_S)
        return listener

    def _accept_loop(self):
        while not self._closed.is_set():
            listener = self._listener
            if listener is None:
                self._closed.wait(_ACCEPT_POLL_S)
                continue
            try:
                client, _ = listener.accept()
            except (socket.timeout, OSError):
                continue  # poll timeout, or the listener was closed by pause
            self._connect(client)

    def _connect(self, client):
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        client.settimeout(None)
        upstream.settimeout(None)
        pair = (client, upstream)
        with self._lock:
            if self._listener is None:  # paused while we were connecting
                _reset(*pair)
                return
            self._pairs.add(pair)
        for source, sink in (pair, pair[::-1]):
            threading.Thread(target=self._pump, args=(pair, source, sink),
                             daemon=True).start()

    def _pump(self, pair, source, sink):
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._pairs.discard(pair)
        _reset(*pair)


def _reset(*sockets):
    """Close with RST, as a crashed server's host would, so the peer fails
    at once instead of reading a polite end of stream."""
    for sock in sockets:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass
