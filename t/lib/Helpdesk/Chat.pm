package Helpdesk::Chat;

# A chat client for the tests: a WebSocket (Mojo::UserAgent, subprotocol
# helpdesk.chat.v1) whose server messages are kept in arrival order, and
# waited for by what they say.  Several clients share Mojo's loop; waiting
# on one runs them all.
#
# Also the setup the chat's tests share (at the end): nginx with the chat's
# locations, an agent invited and logged in to the console, a visitor.

use strict;
use warnings;
use Mojo::IOLoop;
use Mojo::JSON qw(decode_json encode_json);
use Mojo::UserAgent;
use Helpdesk::Portal;
use Time::HiRes qw(time);

my $seq = 0;

# Helpdesk::Chat->new($t, path => ..., origin => ..., host => ..., cookie => ...)
sub new {
    my ($class, $t, %o) = @_;
    my $self = bless { msgs => [], seen => [], t => $t, %o }, $class;
    $self->connect;
    return $self;
}

sub connect {
    my ($self) = @_;
    my $port = $self->{port} // $self->{t}->port;
    my %h = (Origin => $self->{origin} // 'https://www.acme.example');
    $h{Host} = $self->{host} if $self->{host};
    $h{Cookie} = $self->{cookie} if $self->{cookie};
    %h = (%h, %{ $self->{headers} }) if $self->{headers};
    delete $self->{tx};
    delete $self->{closed};
    $self->{ua} //= Mojo::UserAgent->new(inactivity_timeout => 120,
                                         connect_timeout => 10);
    $self->{ua}->websocket("ws://127.0.0.1:$port$self->{path}" => \%h
        => ['helpdesk.chat.v1'] => sub {
            my ($ua, $tx) = @_;
            unless ($tx->is_websocket) {
                $self->{closed} = [0, 'handshake: ' . ($tx->res->code // 'none')];
                return;
            }
            $self->{tx} = $tx;
            $tx->max_websocket_size(1 << 20);
            $tx->on(text => sub {
                my $m = eval { decode_json($_[1]) } // { type => 'not json', raw => $_[1] };
                push @{ $self->{msgs} }, $m;
                push @{ $self->{seen} }, $m;
            });
            $tx->on(finish => sub { $self->{closed} = [$_[1], $_[2]] });
        });
    pump(sub { $self->{tx} || $self->{closed} }, 10);
    die "no websocket: @{ $self->{closed} // ['timeout'] }" unless $self->{tx};
    return $self;
}

# Runs the loop until $cond is true or $timeout seconds pass.
sub pump {
    my ($cond, $timeout) = @_;
    my $until = time + ($timeout // 10);
    my $tick = Mojo::IOLoop->recurring(0.02 => sub { });
    my $v;
    while (!($v = $cond->()) && time < $until) {
        Mojo::IOLoop->one_tick;
    }
    Mojo::IOLoop->remove($tick);
    return $v;
}

sub cid { 'c' . ++$seq }

# Sends a message (a cid is added unless given); returns its cid.
sub send {
    my ($self, $type, %f) = @_;
    my $cid = exists $f{cid} ? $f{cid} : cid();
    delete $f{cid} unless defined $cid;
    my $m = { type => $type, %f, (defined $cid ? (cid => $cid) : ()) };
    $self->{tx}->send({ json => $m });
    return $cid;
}

sub send_raw {
    my ($self, $text) = @_;
    $self->{tx}->send($text);
}

# The first message not taken yet that matches: type, then field => value
# (a code ref is called with the value); waits up to $timeout (5 s).
sub take {
    my ($self, $type, %match) = @_;
    my $timeout = delete $match{timeout} // 5;
    my $found;
    pump(sub {
        for my $i (0 .. $#{ $self->{msgs} }) {
            my $m = $self->{msgs}[$i];
            next unless $m->{type} eq $type;
            my $ok = 1;
            for my $k (keys %match) {
                my $want = $match{$k};
                my $have = $m->{$k};
                $ok = 0, last unless ref $want eq 'CODE' ? $want->($have)
                                   : (defined $have && $have eq $want);
            }
            next unless $ok;
            $found = splice @{ $self->{msgs} }, $i, 1;
            return 1;
        }
        return 0;
    }, $timeout);
    return $found;
}

# Every message not taken yet (after waiting $wait seconds), taken.
sub drain {
    my ($self, $wait) = @_;
    pump(sub { 0 }, $wait // 0.3);
    my @m = @{ $self->{msgs} };
    $self->{msgs} = [];
    return @m;
}

# hello, and its welcome
sub hello {
    my ($self, %f) = @_;
    my $cid = $self->send(hello => %f);
    return $self->take('welcome', timeout => 10) // $self->take('error');
}

# a message and its ack
sub say {
    my ($self, $type, %f) = @_;
    my $cid = $self->send($type, %f);
    return $self->take_ack($cid);
}

sub take_ack {
    my ($self, $cid, $timeout) = @_;
    my $r;
    pump(sub {
        for my $i (0 .. $#{ $self->{msgs} }) {
            my $m = $self->{msgs}[$i];
            next unless ($m->{type} eq 'ack' || $m->{type} eq 'error')
                        && ($m->{cid} // '') eq $cid;
            $r = splice @{ $self->{msgs} }, $i, 1;
            return 1;
        }
        0;
    }, $timeout // 10);
    return $r;
}

sub close {
    my ($self, $code) = @_;
    return unless $self->{tx};
    $self->{tx}->finish($code // 1000);
    pump(sub { $self->{closed} }, 5);
}

sub closed { $_[0]{closed} }

# --- the setup the chat's tests share --------------------------------------

# The server's chat locations: the visitors' chat at /chat/, the agent
# console at /agent/ with the agents' chat inside it.  %o: ping => how
# often both chats ping ('60s'), directives => more directives in both
# chat locations ('helpdesk_upload_max_size 64k;').
sub locations {
    my (%o) = @_;
    my $chat = ($o{ping} ? " ping=$o{ping}" : '') . ';' . ($o{directives} ? " $o{directives}" : '');
    return "location /chat/ { helpdesk_chat$chat }
            location /agent/ {
                helpdesk_agent_console;
                location /agent/_/chat/ { helpdesk_chat agent$chat }
            }";
}

# Helpdesk::Chat::start_nginx($t, %o): nginx with the tenants' names under
# portal.test and the chat's locations().  %o: http => more of the http
# block, server => more of the server block, and what locations() takes.
sub start_nginx {
    my ($t, %o) = @_;
    my $http = delete $o{http};
    my $server = delete $o{server};
    return $t->start_nginx(http => 'helpdesk_base_domain portal.test;' . (defined $http ? "\n$http" : ''),
                           server => locations(%o) . (defined $server ? "\n$server" : ''));
}

# Helpdesk::Chat::invite($t, $tenant, $email, $name, %o): a user of
# $tenant made through /v1/users (role => 'agent' unless given), invited to
# the console, its password (password => ..., 'senha-de-agente-1' unless
# given) set through the link the invitation's email carries.  Returns
# { id, user (the API's answer), email, password, host (the console's
# "name:port"), console (a Helpdesk::Portal on it, not logged in) }.
sub invite {
    my ($t, $tenant, $email, $name, %o) = @_;
    my $ua = $t->ua;
    my $key = $t->auth($tenant->{key});
    my $host = "$tenant->{slug}.portal.test:" . $t->port;
    my $u = $ua->post($t->url('/v1/users') => $key => json => {
        email => $email, name => $name, role => $o{role} // 'agent' })->res->json;
    die "no user $email" unless $u->{id};
    $ua->post($t->url("/v1/users/$u->{id}/invitation") => $key
              => json => { url => "http://$host/agent/" });
    my $job = decode_json($t->psql(q{SELECT payload FROM helpdesk.outbox WHERE kind = 'email'
                                     ORDER BY outbox_id DESC LIMIT 1}));
    my ($token) = $job->{link} =~ m{/agent/reset/([0-9a-f]{64})$} or die "no invitation for $email";
    my $password = $o{password} // 'senha-de-agente-1';
    my $c = Helpdesk::Portal->new($t, "$tenant->{slug}.portal.test", prefix => '/agent');
    $c->api(POST => "/reset/$token", { password => $password });
    return { id => $u->{id}, user => $u, email => $email, password => $password,
             host => $host, console => $c };
}

# Helpdesk::Chat::agent($t, $tenant, $email, $name, %o): invite()d and
# logged in to the console.  Adds cookie (its session, "hd_agent=...")
# and chat: a function that opens the agent's chat WebSocket, not greeted
# (its arguments go to new(): port, host, origin...).
sub agent {
    my ($t, @who) = @_;
    my $a = invite($t, @who);
    $a->{console}->login($a->{email}, $a->{password})->code == 200 or die "login $a->{email}";
    my $host = $a->{host};
    my $cookie = $a->{cookie} = 'hd_agent=' . $a->{console}->cookie('hd_agent');
    $a->{chat} = sub {
        Helpdesk::Chat->new($t, path => '/agent/_/chat/v1/ws', host => $host,
                            origin => "http://$host", cookie => $cookie, @_);
    };
    return $a;
}

# Helpdesk::Chat::visitor($t, $slug, $origin, %more): a visitor of the
# tenant $slug on a page of $origin, on the chat's WebSocket, not greeted
# (%more goes to new(): port, host, cookie...).
sub visitor {
    my ($t, $slug, $origin, %more) = @_;
    return Helpdesk::Chat->new($t, path => "/chat/v1/ws?tenant=$slug", origin => $origin, %more);
}

1;
