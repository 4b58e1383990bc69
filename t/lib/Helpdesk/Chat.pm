package Helpdesk::Chat;

# A chat client for the tests: a WebSocket (Mojo::UserAgent, subprotocol
# helpdesk.chat.v1) whose server messages are kept in arrival order, and
# waited for by what they say.  Several clients share Mojo's loop; waiting
# on one runs them all.

use strict;
use warnings;
use Mojo::IOLoop;
use Mojo::JSON qw(decode_json encode_json);
use Mojo::UserAgent;
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

1;
