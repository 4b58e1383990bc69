#!/usr/bin/env perl
# The website chat widget on a page whose Content-Security-Policy allows no
# inline style (style-src without 'unsafe-inline'), as docs/operations.md
# describes: the widget still draws itself (its stylesheet is a constructed
# one, adopted by its shadow root, not a <style> element), against the real
# chat server.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Browser;
use File::Path qw(make_path);

plan skip_all => 'Chromium and chromedriver are not installed (make deps)' unless Helpdesk::Browser::available();

my $t = Helpdesk::Test->new->start_stack;
my $dir = $t->dir;
my $port = $t->{port} = Helpdesk::Test::free_port();
my $provider = "http://chat.provider.test:$port";
my $shop = "http://www.shop.test:$port";

my $site = "$dir/site";
make_path($site);
open my $fh, '>:utf8', "$site/strict.html" or die $!;
print $fh <<HTML;
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>A strict shop</title></head>
<body>
<h1>A shop with a strict policy</h1>
<p>Plans and prices.</p>
<script async src="$provider/chat/widget/chat.js" data-tenant="acme"></script>
</body>
</html>
HTML
close $fh;
chmod 0755, $site;
chmod 0644, glob("$site/*");

# the policy docs/operations.md gives the tenant's web site, and no more
my $csp = "default-src 'self'; script-src 'self' $provider; "
        . "connect-src 'self' $provider ws://chat.provider.test:$port; "
        . "style-src 'self'; img-src 'self' data:";

$t->start_nginx(http => 'helpdesk_base_domain portal.test;', server => <<CONF);
        location /chat/widget/ { helpdesk_chat_widget; }
        location /chat/ { helpdesk_chat; }
        location /site/ {
            root $dir;
            default_type text/html;
            charset utf-8;
            add_header Content-Security-Policy "$csp" always;
        }
CONF

my $acme = $t->create_tenant('acme');
$t->psql(qq{INSERT INTO helpdesk.chat_widgets (tenant_id, allowed_origins, bot_enabled)
            VALUES ('$acme->{id}', '{$shop}', false)});

my $b = Helpdesk::Browser->new(resolve => { 'www.shop.test' => 1, 'chat.provider.test' => 1 },
                               width => 1280, height => 800);
$b->get("$shop/site/strict.html");
$b->wait_for('h1', 10);

# seen from the page: at the launcher's place in the corner is the host
# element -- only when the widget's styles apply (fixed, bottom right)
ok until_true(sub { $b->script('var e = document.elementFromPoint(innerWidth - 48, innerHeight - 48);'
                               . 'return !!e && e.hasAttribute("data-helpdesk-chat");') }, 15),
   "under style-src 'self' the widget is styled: its launcher in the corner";
my $host = $b->find('[data-helpdesk-chat]');
my $root = $b->_call(GET => $b->_s . "/element/$host/shadow");
is $b->script('var r = arguments[0]; return r.querySelectorAll("style").length;', $root), 0,
   '... from a constructed stylesheet, not a <style> element';
ok $b->script('var r = arguments[0]; var l = r.querySelector("button.l");'
              . 'return !!l && getComputedStyle(l).position === "fixed";', $root),
   '... the launcher fixed';

$b->quit;
$t->done;
