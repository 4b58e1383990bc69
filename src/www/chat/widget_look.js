    /* widget.parts: elements, icons, the tenant's colour and the styles */

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
        '.act:disabled{opacity:.55;cursor:default}',
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
