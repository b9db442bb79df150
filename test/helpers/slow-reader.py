"""A TLS client that asks and never reads: the slow-read attacker of test/features/attacks-r25.test.ts.

Its sockets advertise the smallest receive window Linux allows (SO_RCVBUF) and a small segment
size (TCP_MAXSEG), as a client on a slow or hostile network can, so a few answers fill the path
from the server and the next one cannot be written out. Driven line by line on stdin:
  open <local address>   -> "opened <n>"  (TLS handshake done)
  send <n> <path>        -> "sent"        (one GET request on connection n)
Arguments: port, CA file.
"""
import socket
import ssl
import sys

port = int(sys.argv[1])
context = ssl.create_default_context(cafile=sys.argv[2])
connections = []
for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    if words[0] == "open":
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        raw.bind((words[1], 0))
        raw.settimeout(10)
        raw.connect(("127.0.0.1", port))
        connections.append(context.wrap_socket(raw, server_hostname="localhost"))
        print("opened", len(connections) - 1, flush=True)
    elif words[0] == "send":
        connection = connections[int(words[1])]
        connection.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % words[2]).encode())
        print("sent", flush=True)
