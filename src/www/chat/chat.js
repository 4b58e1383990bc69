/*
 * nginx-helpdesk website chat: the loader the install snippet names.
 * It only adds the widget (named by its content, cached for a year) with
 * the snippet's data-tenant; nothing else runs on the page from here.
 */
(function (d) {
    var s = d.currentScript, w;
    if (!s || !s.src) {
        return;
    }
    w = d.createElement('script');
    w.src = new URL('@file(chat/widget.js)@', s.src).href;
    w.async = true;
    w.crossOrigin = 'anonymous';
    w.integrity = '@sri(chat/widget.js)@';
    w.setAttribute('data-tenant', s.getAttribute('data-tenant') || '');
    w.setAttribute('data-lang', s.getAttribute('data-lang') || '');
    (d.head || d.documentElement).appendChild(w);
}(document));
