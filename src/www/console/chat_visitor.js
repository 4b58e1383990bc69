  /* chat.parts: the visitor's details beside a chat */

  /* the visitor: who, from where, with what, and before */
  function drawVisitor(c) {
    var v = c.visitor || {}, el = c.el, page = v.page || {};
    el.title.textContent = visitorName(v);
    var rows = [];
    function row(label, value) {
      if (value === null || value === undefined || value === '') return;
      rows.push(h('dt', label), h('dd', value));
    }
    var pageUrl = page.url || v.page_url, pageTitle = page.title || v.page_title, ref = page.referrer || v.referrer;
    row(t('ch.v.name'), v.name || (v.prechat && v.prechat.name));
    row(t('ch.v.email'), v.email || (v.prechat && v.prechat.email) ? (function () {
      var e = v.email || v.prechat.email;
      return h('a', { href: 'mailto:' + e }, e);
    })() : null);
    if (pageUrl || pageTitle) {
      var u = safeUrl(pageUrl);
      row(t('ch.v.page'), [pageTitle ? h('span.chat-page-title', pageTitle) : null, pageTitle && pageUrl ? h('br') : null,
        u ? h('a.chat-url', { href: u, target: '_blank', rel: 'noopener noreferrer' }, u) : (pageUrl || '')]);
    }
    if (ref) row(t('ch.v.referrer'), safeUrl(ref) ? h('a.chat-url', { href: ref, target: '_blank', rel: 'noopener noreferrer' }, ref) : ref);
    row(t('ch.v.language'), v.language || v.lang);
    row(t('ch.v.browser'), browser(v.user_agent || v.browser));
    var fields = (v.prechat && v.prechat.fields) || v.fields || {};
    Object.keys(fields).forEach(function (k) { if (typeof fields[k] !== 'object') row(k, String(fields[k])); });

    var before = [];
    var chats = v.previous_chats || v.previous || v.conversations || [];
    var tickets = v.tickets || [];
    if (chats.length) {
      before.push(h('h3', t('ch.v.chats')), h('ul.chat-before', chats.slice(0, 5).map(function (p) {
        var when = h('time', { dateTime: p.started_at || p.at || '' }, p.started_at || p.at ? HD.when(p.started_at || p.at) : '—');
        return h('li', /^[0-9a-f-]{36}$/.test(p.conversation || '')
                         ? h('a', { href: base + '/chats/' + p.conversation, 'data-nav': true }, when) : when,
          ' ', t('ch.status.' + (p.status || 'ended')),
          p.ticket && p.ticket.number ? [' · ', h('a', { href: base + '/tickets/' + encodeURIComponent(p.ticket.number),
                                                        'data-nav': true }, p.ticket.number)] : null);
      })));
    }
    var ticketList = h('div.chat-tickets');
    if (tickets.length) fillTickets(ticketList, tickets);
    before.push(ticketList);
    var customer = v.customer_id || (v.customer && v.customer.id);
    if (customer && !tickets.length && /^[0-9a-f-]{36}$/.test(customer)) {
      HD.api('GET', '/customers/' + customer).then(function (cu) {
        fillTickets(ticketList, cu.ticket_list || []);
        if (cu.name || cu.email) ticketList.insertBefore(h('p', h('a', { href: base + '/customers/' + customer, 'data-nav': true },
          t('ch.v.customer', { name: cu.name || cu.email }))), ticketList.firstChild);
      }).catch(function () {});
    }
    el.details.textContent = '';
    append(el.details, [h('h3.sr-only', t('ch.details')), rows.length ? h('dl', rows) : h('p.muted', t('ch.v.none')), before]);
  }

  function fillTickets(box, tickets) {
    box.textContent = '';
    if (!tickets.length) return;
    append(box, [h('h3', t('ch.v.tickets')), h('ul.chat-before', tickets.slice(0, 5).map(function (tk) {
      return h('li', h('a', { href: base + '/tickets/' + encodeURIComponent(tk.number), 'data-nav': true }, tk.number),
               ' ', tk.subject || '', tk.status ? [' ', h('span.badge.status-' + tk.status, t('c.status.' + tk.status))] : null);
    }))]);
  }
