    /* widget.parts: the forms (pre-chat, offline, transcript) */

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

    /* the pre-chat form's fields, less what a signed-in customer told */
    function askFields() {
        var k = st.known || {};
        return prechatFields().filter(function (x) {
            return !((x.name === 'name' || x.name === 'email')
                     && typeof k[x.name] === 'string' && k[x.name] !== '');
        });
    }

    function prechatForm() {
        if (ui.forms.getAttribute('data-k') === 'prechat') {
            return;
        }
        form('prechat', null, askFields().concat([{ name: 'message', required: true }]),
             S.start, function (f, v) {
                 var p = { fields: {} }, text = v.message;
                 askFields().forEach(function (x) {
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
