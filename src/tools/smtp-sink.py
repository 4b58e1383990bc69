#!/usr/bin/python3
"""A local SMTP server that keeps what it receives: each mail a file
NNNNNN.eml (the message as received, with a Return-Path and an
X-Envelope-To header added on top) in the directory given.

    smtp-sink.py --port 2525 --dir build/var/mail
        [--cert c.pem --key k.pem]  offer STARTTLS and require it
        [--implicit-tls]            TLS from the first byte (smtps)
        [--auth user:password]      require AUTH PLAIN/LOGIN
        [--xoauth2 URL]             require AUTH XOAUTH2: the bearer token
                                    is live at URL (an OAuth introspection
                                    endpoint, as Dovecot asks) for the
                                    user it names; each mail kept says
                                    whose token it came with
        [--refuse '550 5.1.1 no such user']  refuse every recipient so

For the tests and for `make run` (python3-aiosmtpd)."""

import argparse
import asyncio
import base64
import json
import os
import ssl
import sys
import urllib.parse
import urllib.request

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def introspect(url, token):
    data = urllib.parse.urlencode({'token': token}).encode()
    with urllib.request.urlopen(url, data, timeout=5) as r:
        return json.loads(r.read())


class Keep:
    def __init__(self, directory, refuse, xoauth2=None):
        self.dir = directory
        self.refuse = refuse
        self.xoauth2 = xoauth2
        self.n = len([f for f in os.listdir(directory) if f.endswith('.eml')])

    async def auth_XOAUTH2(self, server, args):
        # "user=<address>^Aauth=Bearer <token>^A^A" (RFC 7628's form)
        if self.xoauth2 is None:
            return AuthResult(success=False, handled=False)
        if len(args) == 2:
            try:
                raw = base64.b64decode(args[1], validate=True)
            except ValueError:
                return AuthResult(success=False, handled=False)
        else:
            raw = await server.challenge_auth('')
            if not isinstance(raw, bytes):
                return AuthResult(success=False, handled=True)
        parts = dict(p.split('=', 1) for p in raw.decode(errors='replace').split('\x01') if '=' in p)
        user, auth = parts.get('user', ''), parts.get('auth', '')
        token = auth[7:] if auth.startswith('Bearer ') else ''
        loop = asyncio.get_running_loop()
        try:
            a = await loop.run_in_executor(None, introspect, self.xoauth2, token)
        except Exception as e:
            print('xoauth2: introspection failed: %s' % e, flush=True)
            return AuthResult(success=False, handled=False, message='454 4.7.0 Temporary authentication failure')
        ok = (token != '' and a.get('active') in (True, 'true')
              and a.get('username') == user)
        print('xoauth2 %s %s %s' % ('ok' if ok else 'refused', user, token), flush=True)
        if not ok:
            return AuthResult(success=False, handled=False)
        server.session.xoauth2 = (user, token)
        return AuthResult(success=True, auth_data=user)

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
        auth = getattr(session, 'xoauth2', None)
        if auth:
            head += ('X-Sink-XOAUTH2: %s %s\r\n' % auth).encode()
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
    ap.add_argument('--xoauth2')
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
    elif a.xoauth2:
        # XOAUTH2 only: PLAIN and LOGIN refuse everyone
        kw['authenticator'] = lambda *x: AuthResult(success=False)
        kw['auth_required'] = True
        kw['auth_require_tls'] = ctx is not None

    c = Controller(Keep(a.dir, a.refuse, a.xoauth2), hostname=a.host, port=a.port,
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
