#!/usr/bin/python3
"""A local SMTP server that keeps what it receives: each mail a file
NNNNNN.eml (the message as received, with a Return-Path and an
X-Envelope-To header added on top) in the directory given.

    smtp-sink.py --port 2525 --dir build/var/mail
        [--cert c.pem --key k.pem]  offer STARTTLS and require it
        [--implicit-tls]            TLS from the first byte (smtps)
        [--auth user:password]      require AUTH PLAIN/LOGIN
        [--refuse '550 5.1.1 no such user']  refuse every recipient so

For the tests and for `make run` (python3-aiosmtpd)."""

import argparse
import asyncio
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Keep:
    def __init__(self, directory, refuse):
        self.dir = directory
        self.refuse = refuse
        self.n = len([f for f in os.listdir(directory) if f.endswith('.eml')])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        name = os.path.join(self.dir, '%06d.eml' % self.n)
        head = ('Return-Path: <%s>\r\nX-Envelope-To: %s\r\n'
                % (envelope.mail_from, ', '.join(envelope.rcpt_tos))).encode()
        with open(name + '.tmp', 'wb') as f:
            f.write(head + envelope.original_content)
        os.rename(name + '.tmp', name)
        return '250 2.0.0 kept as %06d' % self.n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--dir', required=True)
    ap.add_argument('--cert')
    ap.add_argument('--key')
    ap.add_argument('--implicit-tls', action='store_true')
    ap.add_argument('--auth')
    ap.add_argument('--refuse')
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)

    kw = {}
    ctx = None
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
    if ctx and a.implicit_tls:
        kw['ssl_context'] = ctx
    elif ctx:
        kw['tls_context'] = ctx
        kw['require_starttls'] = True
    if a.auth:
        user, password = a.auth.split(':', 1)

        def check(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword)
                  and auth_data.login.decode() == user
                  and auth_data.password.decode() == password)
            return AuthResult(success=ok)

        kw['authenticator'] = check
        kw['auth_required'] = True
        kw['auth_require_tls'] = ctx is not None

    c = Controller(Keep(a.dir, a.refuse), hostname=a.host, port=a.port,
                   server_hostname='localhost', **kw)
    c.start()
    print('ready', flush=True)
    try:
        asyncio.get_event_loop().run_until_complete(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    c.stop()


if __name__ == '__main__':
    sys.exit(main())
