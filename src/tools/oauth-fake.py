#!/usr/bin/env python3
"""A fake OAuth 2.0 provider for the tests (never for production).

  GET  /authorize   the consent page: answers 302 to redirect_uri with a
                    code and the state (or error=access_denied when told
                    to refuse), remembering client, redirect URI, PKCE
                    challenge and login_hint
  POST /token       authorization_code (client secret, redirect URI and the
                    PKCE verifier checked) and refresh_token grants;
                    counted; can be told to answer invalid_grant, 500 or
                    something that is not JSON
  POST /introspect  what Dovecot's oauth2 passdb asks: {"active": true,
                    "username": <login_hint>} for a live access token
  GET  /stats       the counts and the last access token issued, as JSON
  POST /control     JSON: {"token_mode": "ok"|"invalid_grant"|"500"|"garbage"
                    |"no_refresh" (an access token and no refresh token),
                    "deny": bool, "expires_in": n, "expire_all": bool}

Usage: oauth-fake.py --port N --client-id ID --client-secret S
"""
import argparse, base64, hashlib, json, secrets, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs, urlencode

ap = argparse.ArgumentParser()
ap.add_argument('--port', type=int, required=True)
ap.add_argument('--client-id', required=True)
ap.add_argument('--client-secret', required=True)
opt = ap.parse_args()

lock = threading.Lock()
state = {'token_mode': 'ok', 'deny': False, 'expires_in': 3600,
         'codes': {}, 'access': {}, 'refresh': {},
         'counts': {'authorize': 0, 'authorization_code': 0, 'refresh_token': 0,
                    'introspect': 0, 'introspect_active': 0},
         'last_authorize': None, 'last_access': None, 'bad': []}


class H(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)

    def reply(self, code, body, ctype='application/json', headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def form(self):
        n = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(n).decode()
        return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == '/stats':
            with lock:
                return self.reply(200, {'counts': state['counts'], 'last_authorize': state['last_authorize'],
                                        'last_access': state['last_access'], 'bad': state['bad']})
        if u.path != '/authorize':
            return self.reply(404, {'error': 'not_found'})
        with lock:
            state['counts']['authorize'] += 1
            state['last_authorize'] = q
            sep = '&' if '?' in q.get('redirect_uri', '') else '?'
            if state['deny']:
                loc = q['redirect_uri'] + sep + urlencode({'error': 'access_denied',
                    'error_description': 'The user declined', 'state': q.get('state', '')})
            else:
                code = 'code-' + secrets.token_urlsafe(12)
                state['codes'][code] = dict(q)
                loc = q['redirect_uri'] + sep + urlencode({'code': code, 'state': q.get('state', '')})
        self.reply(302, b'', 'text/plain', {'Location': loc})

    def do_POST(self):
        u = urlparse(self.path)
        if u.path == '/control':
            n = int(self.headers.get('Content-Length') or 0)
            c = json.loads(self.rfile.read(n) or b'{}')
            with lock:
                for k in ('token_mode', 'deny', 'expires_in'):
                    if k in c:
                        state[k] = c[k]
                if c.get('expire_all'):
                    for a in state['access'].values():
                        a['exp'] = 0
            return self.reply(200, {'ok': True})
        f = self.form()
        if u.path == '/introspect':
            with lock:
                state['counts']['introspect'] += 1
                a = state['access'].get(f.get('token', ''))
                if a and a['exp'] > time.time():
                    state['counts']['introspect_active'] += 1
                    return self.reply(200, {'active': 'true', 'username': a['user']})
            return self.reply(200, {'active': 'false'})
        if u.path != '/token':
            return self.reply(404, {'error': 'not_found'})
        grant = f.get('grant_type', '')
        with lock:
            if grant in state['counts']:
                state['counts'][grant] += 1
            mode = state['token_mode']
            if mode == '500':
                return self.reply(500, b'<html>upstream trouble</html>', 'text/html')
            if mode == 'garbage':
                return self.reply(200, b'this is not json', 'text/plain')
            if mode == 'invalid_grant':
                return self.reply(400, {'error': 'invalid_grant', 'error_description': 'Token has been revoked'})
            if f.get('client_id') != opt.client_id or f.get('client_secret') != opt.client_secret:
                state['bad'].append('client')
                return self.reply(401, {'error': 'invalid_client'})
            if grant == 'authorization_code':
                c = state['codes'].pop(f.get('code', ''), None)
                if not c:
                    state['bad'].append('code')
                    return self.reply(400, {'error': 'invalid_grant', 'error_description': 'unknown code'})
                if c.get('redirect_uri') != f.get('redirect_uri'):
                    state['bad'].append('redirect_uri')
                    return self.reply(400, {'error': 'invalid_grant', 'error_description': 'redirect_uri'})
                want = base64.urlsafe_b64encode(hashlib.sha256(f.get('code_verifier', '').encode()).digest()).rstrip(b'=').decode()
                if c.get('code_challenge_method') != 'S256' or want != c.get('code_challenge'):
                    state['bad'].append('pkce')
                    return self.reply(400, {'error': 'invalid_grant', 'error_description': 'PKCE'})
                user = c.get('login_hint', 'user')
                rt = 'rt-' + secrets.token_urlsafe(16)
                state['refresh'][rt] = user
            elif grant == 'refresh_token':
                user = state['refresh'].get(f.get('refresh_token', ''))
                if not user:
                    state['bad'].append('refresh')
                    return self.reply(400, {'error': 'invalid_grant', 'error_description': 'unknown refresh token'})
                rt = None
            else:
                return self.reply(400, {'error': 'unsupported_grant_type'})
            at = 'at-' + secrets.token_urlsafe(24)
            if mode != 'no_refresh':    # a token never kept is not the last
                state['access'][at] = {'user': user, 'exp': time.time() + state['expires_in']}
                state['last_access'] = at
            body = {'access_token': at, 'token_type': 'Bearer', 'expires_in': state['expires_in']}
            if rt and mode != 'no_refresh':
                body['refresh_token'] = rt
        self.reply(200, body)


srv = ThreadingHTTPServer(('127.0.0.1', opt.port), H)
print('ready', flush=True)
srv.serve_forever()
