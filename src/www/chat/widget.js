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
 */
(function () {
    'use strict';

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

    /* strings, in the three languages of the product */
    var STR = {
        'pt-BR': {
            open: 'Abrir o chat', close: 'Fechar o chat', title: 'Fale conosco',
            greeting: 'Olá! Como podemos ajudar?', send: 'Enviar',
            message: 'Mensagem', write: 'Escreva sua mensagem…',
            start: 'Iniciar conversa', name: 'Nome', email: 'E-mail',
            optional: '(opcional)', required: 'Preencha este campo.',
            bademail: 'Informe um e-mail válido.',
            queue: 'Você é o {n} da fila', estimate: 'espera de cerca de {m} min',
            typing: '{name} está digitando…', agent: 'Atendente',
            sending: 'Enviando…', sent: 'Enviada', delivered: 'Entregue',
            read: 'Lida', failed: 'Não enviada',
            attach: 'Anexar arquivo', remove: 'Remover {name}',
            uploading: 'Enviando arquivo…', upfail: 'O arquivo não foi enviado.',
            transcript: 'Receber a conversa por e-mail',
            tsent: 'Enviaremos a conversa para {email}.',
            end: 'Encerrar conversa', ended: 'A conversa foi encerrada.',
            again: 'Nova conversa', joined: '{name} entrou na conversa.',
            left: '{name} saiu da conversa.',
            transferred: 'Conversa transferida para {name}.',
            converted: 'Esta conversa virou o chamado {n}.',
            later: 'No momento não há ninguém disponível. Tente novamente mais tarde.',
            offline: 'No momento não há ninguém disponível. Deixe sua mensagem ' +
                'e responderemos por e-mail.',
            leave: 'Enviar mensagem',
            thanks: 'Recebemos sua mensagem. Seu chamado é o {n}.',
            reconnecting: 'Reconectando…', error: 'Algo deu errado. Tente novamente.',
            person: 'Falar com uma pessoa', unread: '{n} mensagens não lidas',
            unread1: '1 mensagem não lida',
            log: 'Mensagens', you: 'Você', toolong: 'A mensagem é longa demais.',
            wait: 'Aguarde {s} s e tente de novo.'
        },
        es: {
            open: 'Abrir el chat', close: 'Cerrar el chat', title: 'Contáctanos',
            greeting: '¡Hola! ¿Cómo podemos ayudarte?', send: 'Enviar',
            message: 'Mensaje', write: 'Escribe tu mensaje…',
            start: 'Iniciar conversación', name: 'Nombre',
            email: 'Correo electrónico', optional: '(opcional)',
            required: 'Completa este campo.',
            bademail: 'Escribe un correo electrónico válido.',
            queue: 'Eres el {n} en la fila', estimate: 'espera de unos {m} min',
            typing: '{name} está escribiendo…', agent: 'Agente',
            sending: 'Enviando…', sent: 'Enviado', delivered: 'Entregado',
            read: 'Leído', failed: 'No enviado',
            attach: 'Adjuntar archivo', remove: 'Quitar {name}',
            uploading: 'Subiendo archivo…', upfail: 'No se pudo subir el archivo.',
            transcript: 'Recibir la conversación por correo',
            tsent: 'Enviaremos la conversación a {email}.',
            end: 'Terminar conversación', ended: 'La conversación terminó.',
            again: 'Nueva conversación', joined: '{name} se unió a la conversación.',
            left: '{name} salió de la conversación.',
            transferred: 'Conversación transferida a {name}.',
            converted: 'Esta conversación es ahora el ticket {n}.',
            later: 'Ahora no hay nadie disponible. Inténtalo de nuevo más tarde.',
            offline: 'Ahora no hay nadie disponible. Déjanos tu mensaje y te ' +
                'responderemos por correo.',
            leave: 'Enviar mensaje',
            thanks: 'Recibimos tu mensaje. Tu ticket es el {n}.',
            reconnecting: 'Reconectando…', error: 'Algo salió mal. Inténtalo de nuevo.',
            person: 'Hablar con una persona', unread: '{n} mensajes sin leer',
            unread1: '1 mensaje sin leer',
            log: 'Mensajes', you: 'Tú', toolong: 'El mensaje es demasiado largo.',
            wait: 'Espera {s} s y vuelve a intentarlo.'
        },
        en: {
            open: 'Open chat', close: 'Close chat', title: 'Chat with us',
            greeting: 'Hi! How can we help?', send: 'Send',
            message: 'Message', write: 'Type your message…',
            start: 'Start chat', name: 'Name', email: 'Email',
            optional: '(optional)', required: 'Please fill in this field.',
            bademail: 'Please enter a valid email address.',
            queue: 'You are {n} in line', estimate: 'about {m} min wait',
            typing: '{name} is typing…', agent: 'Agent',
            sending: 'Sending…', sent: 'Sent', delivered: 'Delivered',
            read: 'Read', failed: 'Not sent',
            attach: 'Attach a file', remove: 'Remove {name}',
            uploading: 'Uploading…', upfail: 'The file could not be uploaded.',
            transcript: 'Email me the transcript',
            tsent: 'We will email the transcript to {email}.',
            end: 'End chat', ended: 'The chat has ended.',
            again: 'New chat', joined: '{name} joined the chat.',
            left: '{name} left the chat.',
            transferred: 'Chat transferred to {name}.',
            converted: 'This chat is now ticket {n}.',
            later: 'Nobody is available right now. Please try again later.',
            offline: 'Nobody is available right now. Leave a message and we ' +
                'will answer by email.',
            leave: 'Send message',
            thanks: 'We got your message. Your ticket is {n}.',
            reconnecting: 'Reconnecting…', error: 'Something went wrong. Please try again.',
            person: 'Talk to a person', unread: '{n} unread messages',
            unread1: '1 unread message',
            log: 'Messages', you: 'You', toolong: 'The message is too long.',
            wait: 'Wait {s} s and try again.'
        }
    };

    var LANG = (function () {
        var l = (script.getAttribute('data-lang') || navigator.language || '')
            .toLowerCase();
        return l.indexOf('pt') === 0 ? 'pt-BR' : l.indexOf('es') === 0 ? 'es' : 'en';
    }());
    var S = STR[LANG];

    function t(key, v) {
        return S[key].replace(/\{(\w+)\}/g, function (m, k) {
            return v && v[k] != null ? String(v[k]) : m;
        });
    }

    function ordinal(n) {
        if (LANG === 'pt-BR') {
            return n + 'º';
        }
        if (LANG === 'es') {
            return n + '.º';
        }
        var s = ['th', 'st', 'nd', 'rd'], v = n % 100;
        return n + (s[(v - 20) % 10] || s[v] || s[0]);
    }

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

    /* elements: h('div.a.b', {attrs}, children...), text only */
    function h(tag, attrs) {
        var p = tag.split('.'), e = d.createElement(p[0]), i, k, c;
        if (p.length > 1) {
            e.className = p.slice(1).join(' ');
        }
        for (k in attrs) {
            if (Object.prototype.hasOwnProperty.call(attrs, k) && attrs[k] != null
                && attrs[k] !== false)
            {
                if (k.slice(0, 2) === 'on') {
                    e.addEventListener(k.slice(2), attrs[k]);
                } else {
                    e.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
                }
            }
        }
        for (i = 2; i < arguments.length; i++) {
            c = arguments[i];
            if (c != null && c !== false) {
                e.appendChild(typeof c === 'object' ? c : d.createTextNode(String(c)));
            }
        }
        return e;
    }

    var SVG = 'http://www.w3.org/2000/svg';
    var ICONS = {
        bubble: 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z',
        question: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 16h-2v-2h2v2zm2.1-7.8-.9.9C13.5 11.8 13 12.5 13 14h-2v-.5c0-1.1.5-2.1 1.2-2.8l1.2-1.3A2 2 0 0 0 12 6a2 2 0 0 0-2 2H8a4 4 0 1 1 7.1 2.2z',
        headset: 'M12 2a9 9 0 0 0-9 9v6a3 3 0 0 0 3 3h2v-8H5v-1a7 7 0 0 1 14 0v1h-3v8h3v1h-6v2h6a2 2 0 0 0 2-2v-9a9 9 0 0 0-9-9z',
        wave: 'M7 11V5.5a1.5 1.5 0 0 1 3 0V10h.5V3.5a1.5 1.5 0 0 1 3 0V10h.5V5a1.5 1.5 0 0 1 3 0v5.5h.5V8a1.5 1.5 0 0 1 3 0v7a8 8 0 0 1-8 8h-1a7 7 0 0 1-6-3.4L2.3 14a1.5 1.5 0 0 1 2.5-1.7L7 15z',
        close: 'M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19 12 13.4l5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z',
        clip: 'M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z',
        send: 'M2 21 23 12 2 3v7l15 2-15 2z'
    };

    function icon(name) {
        var s = d.createElementNS(SVG, 'svg'), p = d.createElementNS(SVG, 'path');
        s.setAttribute('viewBox', '0 0 24 24');
        s.setAttribute('aria-hidden', 'true');
        s.setAttribute('focusable', 'false');
        p.setAttribute('d', ICONS[name] || ICONS.bubble);
        s.appendChild(p);
        return s;
    }

    /* WCAG 2.1 relative luminance and contrast */
    function lum(hex) {
        var i, c, v = [];
        for (i = 1; i < 7; i += 2) {
            c = parseInt(hex.substr(i, 2), 16) / 255;
            v.push(c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
        }
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
    }

    function contrast(a, b) {
        var x = lum(a), y = lum(b);
        return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
    }

    /* the tenant's colour, darkened until white text on it reads at 4.5:1
       when neither white nor near-black text would */
    function palette(c) {
        var fg, r, g, b;
        if (!COLOUR.test(c || '')) {
            c = '#1f6feb';
        }
        c = c.toLowerCase();
        fg = contrast(c, '#ffffff') >= contrast(c, '#111111') ? '#ffffff' : '#111111';
        while (contrast(c, fg) < 4.5 && fg === '#ffffff') {
            r = Math.floor(parseInt(c.substr(1, 2), 16) * 0.9);
            g = Math.floor(parseInt(c.substr(3, 2), 16) * 0.9);
            b = Math.floor(parseInt(c.substr(5, 2), 16) * 0.9);
            c = '#' + ((1 << 24) | (r << 16) | (g << 8) | b).toString(16).slice(1);
        }
        /* the colour as text or a ring on white: dark enough, or ours */
        return { bg: c, fg: fg, ink: contrast(c, '#ffffff') >= 4.5 ? c : '#1f2328' };
    }

    var CSS = [
        ':host{all:initial}',
        '*{box-sizing:border-box}',
        '[hidden]{display:none!important}',
        '.w{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;',
        'color:#1f2328;-webkit-font-smoothing:antialiased}',
        'button,input,textarea{font:inherit;color:inherit}',
        'button{cursor:pointer}',
        ':focus-visible{outline:3px solid var(--ink);outline-offset:2px}',
        '.l{position:fixed;bottom:20px;right:20px;z-index:2147483000;width:56px;height:56px;',
        'border-radius:50%;border:0;background:var(--bg);color:var(--fg);',
        'box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;',
        'justify-content:center;padding:0}',
        '.l:focus-visible{outline:0;box-shadow:0 0 0 3px #fff,0 0 0 6px #1f2328}',
        '.l svg{width:28px;height:28px;fill:currentColor}',
        '.left .l,.left .p{right:auto;left:20px}',
        '.n{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;',
        'padding:0 6px;border-radius:11px;background:#b3261e;color:#fff;',
        'font-size:12px;font-weight:700;line-height:22px;text-align:center}',
        '.p{position:fixed;bottom:88px;right:20px;z-index:2147483000;width:370px;',
        'height:min(600px,calc(100vh - 108px));background:#fff;border-radius:12px;',
        'box-shadow:0 8px 32px rgba(0,0,0,.28);display:flex;flex-direction:column;',
        'overflow:hidden}',
        '.hd{background:var(--bg);color:var(--fg);padding:14px 12px 14px 16px;',
        'display:flex;align-items:center;gap:8px}',
        '.hd div{flex:1;min-width:0}',
        '.hd h2{margin:0;font-size:17px;font-weight:650;overflow:hidden;',
        'text-overflow:ellipsis;white-space:nowrap}',
        '.hd p{margin:0;font-size:13px}',
        '.x{background:transparent;border:0;color:inherit;width:36px;height:36px;',
        'border-radius:6px;display:flex;align-items:center;justify-content:center;padding:0}',
        '.x svg{width:22px;height:22px;fill:currentColor}',
        '.hd :focus-visible{outline:3px solid var(--fg);outline-offset:-3px}',
        '.st{padding:6px 16px;background:#fff8c5;color:#3b2f00;font-size:13px}',
        '.st:empty{display:none}',
        '.b{flex:1;overflow-y:auto;padding:12px 14px;background:#f6f8fa}',
        '.g{margin:4px 0 10px}',
        '.m{max-width:85%;margin:6px 0;display:flex;flex-direction:column}',
        '.m .t{padding:8px 12px;border-radius:14px;background:#fff;',
        'border:1px solid #d0d7de;white-space:pre-wrap;overflow-wrap:anywhere}',
        '.m.me{margin-left:auto;align-items:flex-end}',
        '.m.me .t{background:var(--bg);color:var(--fg);border-color:var(--bg)}',
        '.m .by,.m .s{font-size:12px;color:#57606a;margin:0 4px 2px}',
        '.m .s{margin-top:2px}',
        '.m.f .s{color:#b3261e}',
        '.m img{display:block;max-width:200px;max-height:160px;margin-top:6px;border-radius:8px}',
        '.m .a{font-size:13px;margin-top:4px}',
        '.m a{color:inherit}',
        '.ev{text-align:center;font-size:13px;color:#57606a;margin:10px 0}',
        '.ev.k{color:#1f2328;font-weight:600}',
        '.act{margin-top:6px;background:#fff;color:var(--ink);border:1px solid var(--ink);',
        'border-radius:16px;padding:4px 12px;font-size:13px}',
        '.ty{font-size:13px;color:#57606a;padding:0 16px;min-height:20px}',
        'form.c{display:flex;align-items:flex-end;gap:6px;padding:8px 10px;',
        'border-top:1px solid #d0d7de;background:#fff}',
        'form.c textarea{flex:1;resize:none;height:42px;max-height:120px;padding:9px 10px;',
        'border:1px solid #8c959f;border-radius:8px}',
        '.ib{width:42px;height:42px;border-radius:8px;border:0;background:transparent;',
        'color:#57606a;display:flex;align-items:center;justify-content:center;padding:0;',
        'flex:none}',
        '.ib svg{width:22px;height:22px;fill:currentColor}',
        '.ib.go{background:var(--bg);color:var(--fg)}',
        '.ch{display:flex;flex-wrap:wrap;gap:6px;padding:0 10px 6px;background:#fff}',
        '.ch:empty{display:none}',
        '.ch span{display:flex;align-items:center;gap:4px;font-size:12px;background:#eaeef2;',
        'border-radius:12px;padding:2px 4px 2px 8px}',
        '.ch img{width:28px;height:28px;object-fit:cover;border-radius:4px}',
        '.ch button{border:0;background:transparent;width:24px;height:24px;padding:0}',
        '.tl{display:flex;gap:4px;justify-content:space-between;padding:4px 10px 8px;',
        'background:#fff}',
        '.tl button,.lk{border:0;background:transparent;color:var(--ink);font-size:13px;',
        'padding:4px 6px;text-decoration:underline}',
        'form.f{padding:4px 2px}',
        'form.f p{margin:0 0 12px}',
        'form.f label{display:block;font-size:14px;font-weight:600;margin:10px 0 4px}',
        'form.f input,form.f textarea{display:block;width:100%;padding:9px 10px;',
        'border:1px solid #8c959f;border-radius:8px;background:#fff}',
        'form.f textarea{min-height:90px;resize:vertical}',
        'form.f .e{color:#b3261e;font-size:13px;margin:4px 0 0}',
        '[aria-invalid=true]{border-color:#b3261e!important}',
        '.pb{display:block;width:100%;margin-top:14px;padding:11px;border:0;border-radius:8px;',
        'background:var(--bg);color:var(--fg);font-weight:650}',
        '.pb[disabled]{opacity:.6}',
        '.ok{background:#dafbe1;color:#0f3d1c;border-radius:8px;padding:12px;margin:8px 0}',
        '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);',
        'white-space:nowrap}',
        '@media (max-width:479px){.p,.left .p{inset:0;width:auto;height:auto;',
        'max-height:none;border-radius:0}.open .l{display:none}}',
        '@media (prefers-reduced-motion:no-preference){',
        '.p{animation:in .18s ease-out}.l{transition:transform .15s}',
        '.l:hover{transform:scale(1.06)}',
        '@keyframes in{from{opacity:0;transform:translateY(12px)}to{opacity:1;transform:none}}}'
    ].join('');

    /* ---- state ---- */

    var st = {
        visitor: load('visitor'),
        stream: null,
        settings: null,
        conv: null,         /* {id, status, agent} */
        last: null,         /* the last stored id seen: what we resume from */
        seen: {},           /* id -> element (stored events, shown once) */
        mine: {},           /* cid -> element of our own message */
        outbox: [],         /* frames waiting for their ack: [{cid, frame}] */
        unread: 0,
        readSent: null,
        dlvSent: null,      /* the last id we said we received */
        lastOther: null,    /* the last stored id from the other side */
        delivered: null,
        read: null,
        prechat: {},
        files: [],          /* [{id, name, url, el}] to attach */
        open: false,
        n: 0
    };

    var net = {
        mode: window.WebSocket ? 'ws' : 'sse',
        ws: null, es: null, up: false,
        wsFails: 0, tries: 0, timer: null
    };

    function cid() {
        st.n += 1;
        return 'w' + Date.now().toString(36) + st.n.toString(36)
            + Math.random().toString(36).slice(2, 8);
    }

    function older(a, b) {      /* stream ids: "<ms>-<seq>" */
        var x = a.split('-'), y = b.split('-');
        return +x[0] < +y[0] || (+x[0] === +y[0] && +x[1] < +y[1]);
    }

    function stored(id) {
        return typeof id === 'string' && /^\d+-\d+$/.test(id);
    }

    /* ---- the page element and the shadow root ---- */

    /* on the page at once, empty: a second copy of the snippet finds it */
    var host = h('div', { 'data-helpdesk-chat': '' });
    host.style.cssText = 'all:initial!important';
    (d.body || d.documentElement).appendChild(host);
    var root = host.attachShadow({ mode: 'closed' });
    var wrap = h('div.w');
    /*
     * A constructed stylesheet: a page whose CSP style-src lacks
     * 'unsafe-inline' blocks a <style> element, not this; older browsers
     * get the element.
     */
    var sheet = null;
    try {
        if ('adoptedStyleSheets' in root && typeof CSSStyleSheet === 'function') {
            sheet = new CSSStyleSheet();
            sheet.replaceSync(CSS);
            root.adoptedStyleSheets = [sheet];
        }
    } catch (e) {
        sheet = null;
    }
    if (!sheet) {
        var style = d.createElement('style');
        style.textContent = CSS;
        root.appendChild(style);
    }
    root.appendChild(wrap);

    var ui = {};

    function build() {
        var s = st.settings || {}, pal = palette(s.colour);

        wrap.style.setProperty('--bg', pal.bg);
        wrap.style.setProperty('--fg', pal.fg);
        wrap.style.setProperty('--ink', pal.ink);
        wrap.className = 'w' + (s.position === 'bottom-left' ? ' left' : '');

        if (ui.launcher) {
            ui.launcher.replaceChild(icon(s.icon), ui.launcher.firstChild);
            ui.title.textContent = s.title || S.title;
            ui.greeting.firstChild.textContent = s.greeting || S.greeting;
            return;
        }

        ui.badge = h('span.n', { 'aria-hidden': 'true', hidden: true });
        ui.launcher = h('button.l', {
            type: 'button', 'aria-label': S.open, 'aria-expanded': 'false',
            'aria-controls': 'hc-panel', onclick: toggle
        }, icon(s.icon), ui.badge);

        ui.title = h('h2', { id: 'hc-title' }, s.title || S.title);
        ui.sub = h('p', null);
        ui.status = h('div.st', { role: 'status', 'aria-live': 'polite' });
        ui.log = h('div.lg', { role: 'log', 'aria-live': 'polite', 'aria-label': S.log });
        ui.greeting = h('div.m.g', null, h('div.t', null, s.greeting || S.greeting));
        ui.forms = h('div');
        ui.body = h('div.b', null, ui.greeting, ui.log, ui.forms);
        ui.typing = h('div.ty');

        ui.file = h('input', { type: 'file', tabindex: '-1', 'aria-hidden': 'true',
                               hidden: true, onchange: picked });
        ui.text = h('textarea', { id: 'hc-text', rows: '1', 'aria-label': S.message,
                                  placeholder: S.write, onkeydown: keys, oninput: typing });
        ui.chips = h('div.ch');
        ui.composer = h('form.c', { onsubmit: submit, hidden: true },
            h('button.ib', { type: 'button', 'aria-label': S.attach, title: S.attach,
                             onclick: function () { ui.file.click(); } }, icon('clip')),
            ui.file, ui.text,
            h('button.ib.go', { type: 'submit', 'aria-label': S.send, title: S.send },
              icon('send')));
        ui.tools = h('div.tl', { hidden: true },
            h('button', { type: 'button', onclick: askTranscript }, S.transcript),
            h('button', { type: 'button', onclick: endChat }, S.end));

        ui.panel = h('section.p', { id: 'hc-panel', role: 'dialog',
                                    'aria-labelledby': 'hc-title', hidden: true,
                                    onkeydown: function (e) {
                                        if (e.key === 'Escape') {
                                            e.stopPropagation();
                                            toggle(false);
                                        }
                                    } },
            h('div.hd', null, h('div', null, ui.title, ui.sub),
              h('button.x', { type: 'button', 'aria-label': S.close, title: S.close,
                              onclick: function () { toggle(false); } }, icon('close'))),
            ui.status, ui.body, ui.typing, ui.chips, ui.composer, ui.tools);

        wrap.appendChild(ui.launcher);
        wrap.appendChild(ui.panel);

        if (load('open', true) === '1') {
            toggle(true, true);
        }
    }

    function toggle(on, quiet) {
        if (typeof on !== 'boolean') {
            on = !st.open;
        }
        st.open = on;
        save('open', on ? '1' : null, true);
        ui.panel.hidden = !on;
        wrap.classList.toggle('open', on);
        ui.launcher.setAttribute('aria-expanded', on ? 'true' : 'false');
        ui.launcher.setAttribute('aria-label', on ? S.close : S.open);
        if (on) {
            view();
            markRead();
            if (!quiet) {
                var f = ui.panel.querySelector('form:not([hidden]) input:not([type=file]),'
                    + 'form:not([hidden]) textarea');
                (f || ui.panel.querySelector('.x')).focus();
            }
            scroll();
        } else if (!quiet) {
            ui.launcher.focus();
        }
        badge();
    }

    function badge() {
        var n = st.open ? 0 : st.unread;
        ui.badge.hidden = !n;
        ui.badge.textContent = n > 99 ? '99+' : String(n);
        if (!st.open) {
            ui.launcher.setAttribute('aria-label', S.open
                + (n ? ' (' + (n === 1 ? S.unread1 : t('unread', { n: n })) + ')' : ''));
        }
    }

    function scroll() {
        ui.body.scrollTop = ui.body.scrollHeight;
    }

    function clearForms() {
        ui.forms.textContent = '';
        ui.forms.removeAttribute('data-k');
    }

    /* which part of the panel shows: a form, or the conversation */
    function view() {
        var c = st.conv, live = c && /^(bot|queued|active)$/.test(c.status),
            k = ui.panel && ui.forms.getAttribute('data-k');
        if (!ui.panel) {
            return;
        }
        ui.composer.hidden = !live;
        ui.tools.hidden = !live;
        ui.greeting.hidden = !live && !c && !(st.settings && st.settings.open !== false);
        if (live) {
            if (k && k !== 'transcript') {
                clearForms();
            }
        } else if (k !== 'done') {
            if (c) {
                again();
            } else if (st.settings && st.settings.open !== false) {
                prechatForm();
            } else if (st.settings && st.settings.offline_form === false) {
                ui.forms.setAttribute('data-k', 'later');
                ui.forms.textContent = '';
                ui.forms.appendChild(h('p.ok', null, S.later));
            } else {
                offlineForm();
            }
        }
    }

    function again() {
        if (ui.forms.getAttribute('data-k') === 'again') {
            return;
        }
        ui.forms.setAttribute('data-k', 'again');
        ui.forms.textContent = '';
        ui.forms.appendChild(h('button.pb', { type: 'button', onclick: function () {
            st.conv = null;
            clearForms();
            ui.log.textContent = '';
            st.mine = {};
            view();
            var f = ui.forms.querySelector('input,textarea');
            if (f) {
                f.focus();
            }
        } }, S.again));
    }

    /* ---- forms ---- */

    function field(f, values) {
        var name = String(f.name || ''), id = 'hc-f-' + name.replace(/[^\w-]/g, '_'),
            label = name === 'name' ? S.name : name === 'email' ? S.email
                : name === 'message' ? S.message : String(f.label || name),
            input = h(name === 'message' ? 'textarea' : 'input', {
                id: id, name: name,
                type: name === 'email' ? 'email' : name === 'message' ? null : 'text',
                autocomplete: name === 'name' ? 'name' : name === 'email' ? 'email' : 'off',
                required: !!f.required, 'aria-required': f.required ? 'true' : null,
                'aria-describedby': id + '-e', maxlength: name === 'message' ? null : '200'
            });
        if (values && values[name]) {
            input.value = values[name];
        }
        return [h('label', { 'for': id }, label, f.required ? '' : ' ' + S.optional),
                input, h('p.e', { id: id + '-e', hidden: true })];
    }

    function form(kind, intro, fields, button, onsend) {
        var f, els = [];
        ui.forms.setAttribute('data-k', kind);
        ui.forms.textContent = '';
        fields.forEach(function (x) {
            els = els.concat(field(x, st.prechat));
        });
        f = h.apply(null, ['form.f', { novalidate: true, onsubmit: function (e) {
            e.preventDefault();
            if (check(f)) {
                onsend(f, values(f));
            }
        } }, intro ? h('p', null, intro) : null].concat(els,
            [h('button.pb', { type: 'submit' }, button)]));
        ui.forms.appendChild(f);
        return f;
    }

    function values(f) {
        var v = {};
        Array.prototype.forEach.call(f.querySelectorAll('input,textarea'), function (i) {
            v[i.name] = i.value.trim();
        });
        return v;
    }

    function fieldError(i, msg) {
        var e = i.parentNode.querySelector('#' + i.id + '-e');
        i.setAttribute('aria-invalid', msg ? 'true' : 'false');
        if (e) {
            e.hidden = !msg;
            e.textContent = msg || '';
        }
    }

    function check(f) {
        var bad = null;
        Array.prototype.forEach.call(f.querySelectorAll('input,textarea'), function (i) {
            var v = i.value.trim(), msg = null;
            if (i.required && !v) {
                msg = S.required;
            } else if (i.type === 'email' && v && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) {
                msg = S.bademail;
            }
            fieldError(i, msg);
            if (msg && !bad) {
                bad = i;
            }
        });
        if (bad) {
            bad.focus();
        }
        return !bad;
    }

    function prechatFields() {
        var p = st.settings && Array.isArray(st.settings.prechat) ? st.settings.prechat : [];
        return p.filter(function (x) {
            return x && typeof x.name === 'string' && x.name !== 'message';
        });
    }

    function prechatForm() {
        if (ui.forms.getAttribute('data-k') === 'prechat') {
            return;
        }
        form('prechat', null, prechatFields().concat([{ name: 'message', required: true }]),
             S.start, function (f, v) {
                 var p = { fields: {} }, text = v.message;
                 prechatFields().forEach(function (x) {
                     if (x.name === 'name' || x.name === 'email') {
                         p[x.name] = v[x.name] || undefined;
                     } else if (v[x.name]) {
                         p.fields[x.name] = v[x.name];
                     }
                 });
                 st.prechat = v;
                 st.conv = { id: null, status: 'bot', agent: null };
                 clearForms();
                 view();
                 say({ type: 'start', prechat: p, text: text }, text, []);
                 ui.text.focus();
             });
    }

    function offlineForm() {
        var extra;
        if (ui.forms.getAttribute('data-k') === 'offline') {
            return;
        }
        extra = prechatFields().filter(function (x) {
            return x.name !== 'name' && x.name !== 'email';
        });
        form('offline', S.offline, [{ name: 'name', required: true },
                                    { name: 'email', required: true }].concat(extra,
                                    [{ name: 'message', required: true }]),
             S.leave, function (f, v) {
                 var b = f.querySelector('.pb'), fields = {};
                 extra.forEach(function (x) {
                     if (v[x.name]) {
                         fields[x.name] = v[x.name];
                     }
                 });
                 b.disabled = true;
                 fetch(HTTP + '/chat/v1/offline' + QS, {
                     method: 'POST', mode: 'cors', credentials: 'omit',
                     headers: { 'Content-Type': 'application/json' },
                     body: JSON.stringify({ name: v.name, email: v.email, message: v.message,
                                            fields: fields })
                 }).then(function (r) {
                     return r.json().catch(function () { return {}; }).then(function (j) {
                         return { ok: r.ok, j: j };
                     });
                 }).then(function (r) {
                     var n = r.j && r.j.ticket && r.j.ticket.number, ok;
                     if (!r.ok || !n) {
                         /* the fields' errors, under each ("fields.<name>" for the tenant's own) */
                         (r.j && Array.isArray(r.j.errors) ? r.j.errors : []).forEach(function (e) {
                             var n = String(e && e.field || '').replace(/^fields\./, ''),
                                 m = String(e && e.message || ''),
                                 i = n && f.querySelector('[name="' + n.replace(/["\\]/g, '') + '"]');
                             if (i) {
                                 fieldError(i, /required/.test(m) ? S.required
                                     : n === 'email' ? S.bademail : m || S.required);
                             }
                         });
                         throw new Error('offline');
                     }
                     status('');     /* (an earlier attempt's error is over) */
                     ok = h('div.ok', { role: 'status', tabindex: '-1' }, t('thanks', { n: n }));
                     ui.forms.textContent = '';
                     ui.forms.setAttribute('data-k', 'done');
                     ui.forms.appendChild(ok);
                     ok.focus();
                 }).catch(function () {
                     b.disabled = false;
                     status(S.error);
                 });
             });
    }

    /* ---- the conversation ---- */

    function status(text) {
        if (ui.status) {
            ui.status.textContent = text || '';
        }
    }

    function when(at) {
        var x = at ? new Date(at) : new Date();
        return isNaN(x) ? '' : x.toLocaleTimeString(LANG, { hour: '2-digit', minute: '2-digit' });
    }

    function safeUrl(u) {
        try {
            u = new URL(String(u), HTTP);
            return /^https?:$/.test(u.protocol) ? u.href : null;
        } catch (e) {
            return null;
        }
    }

    var IMG = /^image\/(png|jpeg|gif|webp)$/;

    function attachments(list) {
        var out = h('div');
        (Array.isArray(list) ? list : []).forEach(function (a) {
            var name, url, local;
            if (typeof a === 'string') {
                a = { upload_id: a };
            }
            if (!a || typeof a !== 'object') {
                return;
            }
            local = st.files.filter(function (f) { return f.id === a.upload_id; })[0]
                || (st.sent || {})[a.upload_id];
            name = String(a.filename || (local && local.name) || '');
            url = a.url ? safeUrl(a.url) : local && local.link;
            if (url && IMG.test(a.content_type || local && local.type)) {
                out.appendChild(h('img', { src: url, alt: name }));
            }
            if (name) {
                out.appendChild(h('div.a', null, url ? h('a', { href: url, target: '_blank',
                    rel: 'noopener noreferrer' }, name) : '📎 ' + name));
            }
        });
        return out;
    }

    function bubble(m, mine) {
        var from = m.from || {}, el, kids = [];
        if (!mine) {
            kids.push(h('div.by', null, String(from.name || (from.kind === 'agent' ? S.agent : st.settings && st.settings.title || S.title)) + ' · ' + when(m.at)));
        }
        kids.push(h('div.t', null, String(m.text || ''), attachments(m.attachments)));
        (Array.isArray(m.articles) ? m.articles : []).forEach(function (a) {
            var u = a && safeUrl(a.url);
            if (u) {
                kids.push(h('div.a', null, h('a', { href: u, target: '_blank',
                    rel: 'noopener noreferrer' }, String(a.title || u))));
            }
        });
        if (Array.isArray(m.actions) && m.actions.indexOf('talk_to_person') >= 0) {
            kids.push(h('div', null, h('button.act', { type: 'button', onclick: function (e) {
                e.target.disabled = true;
                say({ type: 'handover' });
            } }, S.person)));
        }
        if (mine) {
            kids.push(h('div.s', null, S.sending));
        }
        el = h.apply(null, ['div.m' + (mine ? '.me' : ''), null].concat(kids));
        if (mine) {
            el.insertBefore(h('span.sr', null, S.you + ': '), el.firstChild);
        }
        return el;
    }

    function mark(el, s) {
        var x = el.querySelector('.s');
        el.setAttribute('data-s', s);
        el.classList.toggle('f', s === 'failed');
        if (x) {
            x.textContent = S[s] + (s === 'sending' ? '' : ' · ' + (el.getAttribute('data-at') || ''));
        }
    }

    function note(text, strong) {
        ui.log.appendChild(h('div.ev' + (strong ? '.k' : ''), null, text));
        scroll();
    }

    /* sends a client message that wants an ack; our text shown at once */
    function say(frame, text, files) {
        var c = cid(), el = null;
        frame.cid = c;
        if (text != null) {
            el = bubble({ text: text, attachments: (files || []).map(function (f) { return f.id; }) }, true);
            el.setAttribute('data-cid', c);
            el.setAttribute('data-at', when());
            st.mine[c] = el;
            ui.log.appendChild(el);
            scroll();
        }
        st.outbox.push({ cid: c, frame: frame });
        send(frame);
    }

    function submit(e) {
        var text = ui.text.value.trim(), files = st.files.filter(function (f) { return f.id; });
        e.preventDefault();
        if (!text && !files.length) {
            return;
        }
        if (st.settings && st.settings.max_message
            && new TextEncoder().encode(text).length > st.settings.max_message)
        {
            status(S.toolong);
            return;
        }
        st.sent = st.sent || {};
        files.forEach(function (f) { st.sent[f.id] = f; });
        say({ type: 'message', text: text, attachments: files.map(function (f) { return f.id; }) },
            text, files);
        ui.text.value = '';
        st.files = [];
        chips();
        typingOff();
    }

    function keys(e) {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            ui.composer.requestSubmit ? ui.composer.requestSubmit() : submit(e);
        }
    }

    /* typing: on at most every 3 s while typing, off after 4 s of quiet */
    var typed = { at: 0, timer: null };

    function typing() {
        var now = Date.now();
        if (now - typed.at > 3000) {
            typed.at = now;
            send({ type: 'typing', cid: cid(), on: true });
        }
        clearTimeout(typed.timer);
        typed.timer = setTimeout(typingOff, 4000);
    }

    function typingOff() {
        clearTimeout(typed.timer);
        if (typed.at) {
            typed.at = 0;
            send({ type: 'typing', cid: cid(), on: false });
        }
    }

    /* files: uploaded as chosen, the file as the body */
    function picked() {
        Array.prototype.forEach.call(ui.file.files, function (file) {
            var f = { id: null, name: file.name, url: null };
            st.files.push(f);
            chips();
            status(S.uploading);
            fetch(HTTP + '/chat/v1/upload' + QS, {
                method: 'POST', mode: 'cors', credentials: 'omit',
                headers: { 'Content-Type': file.type || 'application/octet-stream',
                           'X-Chat-Stream': st.stream || '',
                           'X-Filename': encodeURIComponent(file.name) },
                body: file
            }).then(function (r) {
                return r.json().then(function (j) {
                    if (!r.ok) {
                        throw j;
                    }
                    f.id = String(j.upload_id || '');
                    f.type = j.content_type;
                    f.link = safeUrl(j.url);
                    f.url = IMG.test(f.type) ? f.link : null;
                    status('');
                    chips();
                });
            }).catch(function (e) {
                st.files = st.files.filter(function (x) { return x !== f; });
                status(S.upfail + (e && e.detail ? ' ' + e.detail : ''));
                chips();
            });
        });
        ui.file.value = '';
    }

    function chips() {
        ui.chips.textContent = '';
        st.files.forEach(function (f) {
            ui.chips.appendChild(h('span', null, f.url ? h('img', { src: f.url, alt: '' }) : null,
                f.name + (f.id ? '' : ' …'),
                h('button', { type: 'button', 'aria-label': t('remove', { name: f.name }),
                              onclick: function () {
                                  st.files = st.files.filter(function (x) { return x !== f; });
                                  chips();
                                  ui.text.focus();
                              } }, '×')));
        });
    }

    function askTranscript() {
        var i, f;
        if (ui.forms.getAttribute('data-k') === 'transcript') {
            return;
        }
        ui.forms.setAttribute('data-k', 'transcript');
        ui.forms.textContent = '';
        i = field({ name: 'email', required: true }, st.prechat);
        f = h.apply(null, ['form.f', { novalidate: true, onsubmit: function (e) {
            var v;
            e.preventDefault();
            if (check(f)) {
                v = values(f).email;
                say({ type: 'transcript', email: v });
                clearForms();
                note(t('tsent', { email: v }));
                ui.text.focus();
            }
        } }].concat(i, [h('button.pb', { type: 'submit' }, S.send)]));
        ui.forms.appendChild(f);
        scroll();
        f.querySelector('input').focus();
    }

    function endChat() {
        say({ type: 'end' });
    }

    /* what came from the other side: delivered at once, read once seen */
    function markDelivered() {
        var upto = st.lastOther;
        if (net.up && upto && (!st.dlvSent || older(st.dlvSent, upto))
            && (!st.readSent || older(st.readSent, upto)))
        {
            st.dlvSent = upto;
            send({ type: 'delivered', cid: cid(), upto: upto });
        }
    }

    function markRead() {
        if (st.open && st.lastOther && d.visibilityState === 'visible'
            && (!st.readSent || older(st.readSent, st.lastOther)))
        {
            st.readSent = st.lastOther;
            send({ type: 'read', cid: cid(), upto: st.lastOther });
        }
        if (st.open) {
            st.unread = 0;
        }
    }

    function statuses() {
        Object.keys(st.mine).forEach(function (c) {
            var el = st.mine[c], id = el.getAttribute('data-id'), s = el.getAttribute('data-s');
            if (!id || s === 'failed') {
                return;
            }
            if (st.read && !older(st.read, id)) {
                mark(el, 'read');
            } else if (st.delivered && !older(st.delivered, id) && s !== 'read') {
                mark(el, 'delivered');
            }
        });
    }

    function agentName(a) {
        return a && a.name ? String(a.name) : S.agent;
    }

    /* ---- what the server says ---- */

    function handle(m) {
        var el, c, a;
        if (!m || typeof m !== 'object' || typeof m.type !== 'string') {
            return;
        }
        if (stored(m.id)) {
            if (st.seen[m.id]) {
                return;             /* shown already: a resume overlaps */
            }
            st.seen[m.id] = true;
            if (!st.last || older(st.last, m.id)) {
                st.last = m.id;
            }
        }
        switch (m.type) {

        case 'welcome':
            if (typeof m.visitor === 'string' && /^[0-9a-f]{64}$/.test(m.visitor)) {
                st.visitor = m.visitor;
                save('visitor', m.visitor);
            }
            st.stream = typeof m.stream === 'string' ? m.stream : st.stream;
            st.settings = m.settings && typeof m.settings === 'object' ? m.settings : {};
            if (m.conversation && typeof m.conversation === 'object') {
                c = m.conversation;
                st.conv = { id: c.id, status: String(c.status || 'active'), agent: c.agent };
                if (c.read) {
                    st.read = stored(c.read.agent) ? c.read.agent : st.read;
                    st.readSent = stored(c.read.visitor) ? c.read.visitor : st.readSent;
                }
                if (c.delivered) {
                    st.delivered = stored(c.delivered.agent) ? c.delivered.agent : st.delivered;
                    st.dlvSent = stored(c.delivered.visitor) ? c.delivered.visitor : st.dlvSent;
                }
            } else if (st.conv && st.conv.id) {
                st.conv = null;     /* (one started here and not yet stored stays) */
            }
            build();
            ui.sub.textContent = c && c.agent ? agentName(c.agent) : '';
            net.tries = 0;
            status('');
            view();
            if (net.ws) {
                flush();
            }
            break;

        case 'ack':
            st.outbox = st.outbox.filter(function (o) { return o.cid !== m.cid; });
            el = st.mine[m.cid];
            if (m.conversation && st.conv) {
                st.conv.id = m.conversation;
            }
            if (el && stored(m.ref)) {
                el.setAttribute('data-id', m.ref);
                if (el.getAttribute('data-s') !== 'read') {
                    mark(el, 'sent');
                }
                statuses();
            }
            break;

        case 'error':
            if (m.cid && m.cid === net.hello) {
                /* no welcome (the server is busy): again, as after a drop */
                retry(m.retry_after);
                break;
            }
            st.outbox = st.outbox.filter(function (o) { return o.cid !== m.cid; });
            el = st.mine[m.cid];
            if (el) {
                mark(el, 'failed');
            }
            status(m.code === 'rate_limited' && m.retry_after
                ? t('wait', { s: m.retry_after }) : m.code === 'too_large' ? S.toolong : S.error);
            break;

        case 'message':
            if (m.conversation && st.conv && !st.conv.id) {
                st.conv.id = m.conversation;
            }
            if (m.cid && st.mine[m.cid]) {
                el = st.mine[m.cid];     /* our own, already shown */
                el.setAttribute('data-id', m.id);
                if (!el.getAttribute('data-s') || el.getAttribute('data-s') === 'sending') {
                    mark(el, 'sent');
                }
                break;
            }
            a = m.from && m.from.kind === 'visitor';
            el = bubble(m, a);
            if (a) {
                el.setAttribute('data-id', m.id);
                el.setAttribute('data-at', when(m.at));
                st.mine[m.cid || m.id] = el;
                mark(el, 'sent');
            } else if (stored(m.id)) {
                st.lastOther = m.id;
                if (!st.readSent || older(st.readSent, m.id)) {
                    if (!st.open || d.visibilityState !== 'visible') {
                        st.unread += 1;
                    }
                }
                ui.typing.textContent = '';
            }
            ui.log.appendChild(el);
            statuses();
            scroll();
            clearTimeout(net.read);
            net.read = setTimeout(function () {
                markRead();
                markDelivered();
            }, 250);
            badge();
            break;

        case 'typing':
            if (m.from !== 'visitor') {
                ui.typing.textContent = m.on ? t('typing', { name: st.conv && st.conv.agent
                    ? agentName(st.conv.agent) : S.agent }) : '';
                clearTimeout(net.typing);
                if (m.on) {
                    net.typing = setTimeout(function () { ui.typing.textContent = ''; }, 8000);
                }
            }
            break;

        case 'status':
            if (stored(m.delivered)) {
                st.delivered = m.delivered;
            }
            if (stored(m.read)) {
                st.read = m.read;
            }
            statuses();
            break;

        case 'queue':
            if (typeof m.position === 'number' && m.position > 0) {
                status(t('queue', { n: ordinal(m.position) })
                    + (m.estimate_seconds > 0 ? ' · ' + t('estimate',
                        { m: Math.max(1, Math.round(m.estimate_seconds / 60)) }) : '')
                    + (m.message ? ' — ' + String(m.message) : ''));
            } else {
                status('');
            }
            if (st.conv && st.conv.status === 'bot') {
                st.conv.status = 'queued';
            }
            break;

        case 'joined':
            if (st.conv) {
                st.conv.status = 'active';
                st.conv.agent = m.agent;
            }
            ui.sub.textContent = agentName(m.agent);
            status('');
            note(t('joined', { name: agentName(m.agent) }));
            break;

        case 'left':
            note(t('left', { name: agentName(m.agent) }));
            break;

        case 'transferred':
            if (st.conv) {
                st.conv.agent = m.to;
            }
            ui.sub.textContent = agentName(m.to);
            note(t('transferred', { name: agentName(m.to) }));
            break;

        case 'ended':
            if (st.conv) {
                st.conv.status = 'ended';
            }
            ui.typing.textContent = '';
            status('');
            note(S.ended, true);
            view();
            break;

        case 'converted':
            if (st.conv) {
                st.conv.status = 'converted';
            }
            status('');
            note(t('converted', { n: String(m.ticket && m.ticket.number || '') }), true);
            view();
            break;
        }
    }

    /* ---- transports ---- */

    function hello() {
        var f = { type: 'hello', cid: (net.hello = cid()), lang: LANG,
                  page: { url: location.href.slice(0, 2048), title: d.title.slice(0, 300),
                          referrer: d.referrer.slice(0, 2048) } };
        if (st.visitor) {
            f.visitor = st.visitor;
        }
        if (st.last) {
            f.last = st.last;
        }
        return f;
    }

    /* every frame waiting for its ack, again, in order (stored once by cid) */
    function flush() {
        st.outbox.forEach(function (o) {
            send(o.frame);
        });
    }

    function send(frame) {
        if (!net.up) {
            return;
        }
        if (net.ws) {
            net.ws.send(JSON.stringify(frame));
        } else if (net.es) {
            post(frame);
        }
    }

    /*
     * One client message per POST; the answer is its one document (the
     * welcome for a hello, else its ack or error).  The stream unknown: a
     * new hello; the server or the network failing: reconnect and send
     * again; the message refused: it failed.
     */
    function post(frame) {
        return fetch(HTTP + '/chat/v1/send' + QS, {
            method: 'POST', mode: 'cors', credentials: 'omit',
            headers: st.stream ? { 'Content-Type': 'application/json', 'X-Chat-Stream': st.stream }
                : { 'Content-Type': 'application/json' },
            body: JSON.stringify(frame)
        }).then(function (r) {
            if (r.ok) {
                return r.json().then(handle);
            }
            if (r.status === 401 || r.status === 404 || r.status === 410) {
                st.stream = null;
            }
            if (r.status >= 500 || r.status === 429 || !st.stream || frame.type === 'hello') {
                throw new Error(r.status);
            }
            handle({ type: 'error', id: '~', cid: frame.cid,
                     code: r.status === 413 ? 'too_large' : 'bad_message' });
        }).catch(function () {
            drop();
        });
    }

    function connect() {
        clearTimeout(net.timer);
        net.timer = null;
        if (net.mode === 'ws') {
            openWs();
        } else {
            openSse();
        }
    }

    function openWs() {
        var ws, opened = false;
        try {
            ws = new WebSocket(WS + '/chat/v1/ws' + QS, 'helpdesk.chat.v1');
        } catch (e) {
            net.mode = 'sse';
            return openSse();
        }
        net.ws = ws;
        ws.onopen = function () {
            opened = true;
            net.up = true;
            net.wsFails = 0;
            ws.send(JSON.stringify(hello()));
        };
        ws.onmessage = function (e) {
            var m;
            try {
                m = JSON.parse(e.data);
            } catch (x) {
                return;
            }
            handle(m);
        };
        ws.onclose = function (e) {
            if (net.ws !== ws) {
                return;
            }
            net.ws = null;
            net.up = false;
            if (!opened && ++net.wsFails >= 2) {
                net.mode = 'sse';
            }
            later(e.code === 1001);
        };
    }

    function openSse() {
        var q;
        if (!window.EventSource || !window.fetch) {
            return later();
        }
        if (!st.stream) {
            /* the fallback's hello: its answer is the welcome */
            return post(hello()).then(function () {
                if (st.stream && !net.timer) {
                    openSse();
                }
            });
        }
        q = QS + '&stream=' + encodeURIComponent(st.stream)
            + (st.last ? '&after=' + encodeURIComponent(st.last) : '');
        var es = new EventSource(HTTP + '/chat/v1/sse' + q);
        net.es = es;
        es.onopen = function () {
            net.up = true;
            net.tries = 0;
            status('');
            flush();
        };
        es.onmessage = function (e) {
            var m;
            try {
                m = JSON.parse(e.data);
            } catch (x) {
                return;
            }
            handle(m);
        };
        es.onerror = function () {
            if (net.es === es) {
                drop();
            }
        };
    }

    function retry(after) {
        var ws = net.ws;
        net.ws = null;
        net.up = false;
        if (ws) {
            ws.onclose = null;
            ws.close(1000);
        }
        if (net.es && net.es.close) {
            net.es.close();
        }
        net.es = null;
        clearTimeout(net.timer);
        net.timer = null;
        net.tries = Math.max(net.tries, 1);
        if (after > 0) {
            net.timer = setTimeout(connect, Math.min(60, after) * 1000);
        } else {
            later();
        }
    }

    function drop() {
        if (net.es && net.es.close) {
            net.es.close();
        }
        net.es = null;
        net.up = false;
        later();
    }

    /* backoff with jitter: 1, 2, 4 ... 30 s; a server restart (1001) soon */
    function later(soon) {
        var ms;
        if (net.timer) {
            return;
        }
        net.tries += 1;
        ms = soon ? 300 + Math.random() * 1200
            : Math.min(30000, 1000 * Math.pow(2, net.tries - 1)) * (0.75 + Math.random() * 0.5);
        /* (no launcher before a first welcome: the tenant may have no chat) */
        if (net.tries > 1 && ui.status && st.conv) {
            status(S.reconnecting);
        }
        net.timer = setTimeout(connect, ms);
    }

    d.addEventListener('visibilitychange', markRead);

    connect();
}());
