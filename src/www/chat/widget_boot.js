/*
 * nginx-helpdesk website chat: the widget on a customer's page.
 *
 * Loaded by chat.js (the install snippet) with the snippet's data-tenant.
 * It lives in one closed shadow root on one host element whose inline style
 * is "all: initial", so the page's styles cannot reach in and ours cannot
 * leak out; it defines no global, changes no built-in, and listens to the
 * page only for visibilitychange (to know when messages are read).
 *
 * It speaks helpdesk.chat.v1 (docs/chat-protocol.md) over a WebSocket to
 * the host the script came from; where WebSocket fails to connect twice it
 * falls back to server-sent events plus POST, with the same client ids and
 * resume.  Every stored event is shown once (by its id); what is typed
 * while disconnected waits with its cid and goes out again on reconnect.
 * Everything from the network is written as text, never as HTML.
 *
 * Written in parts (this one: where it came from, what it keeps), joined in
 * the order widget.parts gives inside one function at build time.
 */

    var d = document, script = d.currentScript;

    if (!script || !script.src || d.querySelector('[data-helpdesk-chat]')) {
        return;
    }

    var TENANT = script.getAttribute('data-tenant') || '';
    var SRC = new URL(script.src);
    var HTTP = SRC.origin;
    var WS = (SRC.protocol === 'https:' ? 'wss://' : 'ws://') + SRC.host;
    var QS = '?tenant=' + encodeURIComponent(TENANT);
    var KEY = 'helpdesk-chat:' + TENANT + ':';
    var COLOUR = /^#[0-9a-fA-F]{6}$/;

    /* storage may be blocked (private modes, policies): then nothing is kept */
    function load(k, session) {
        try {
            return (session ? sessionStorage : localStorage).getItem(KEY + k);
        } catch (e) {
            return null;
        }
    }

    function save(k, v, session) {
        try {
            var s = session ? sessionStorage : localStorage;
            if (v == null) {
                s.removeItem(KEY + k);
            } else {
                s.setItem(KEY + k, v);
            }
        } catch (e) { /* blocked: the chat still works for this page */ }
    }
