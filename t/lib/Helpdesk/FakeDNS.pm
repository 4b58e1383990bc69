package Helpdesk::FakeDNS;

# A DNS server for tests, for nginx's "resolver": it answers A queries
# for the names it is given, NXDOMAIN for the others, and nothing at all
# for the names it is told to ignore (a server that hangs).  It runs in a
# child process on a UDP port of 127.0.0.1 and counts the queries it got.
#
#   my $dns = Helpdesk::FakeDNS->new(names => { 'hooks.example.net' => ['127.0.0.2'] },
#                                    silent => ['slow.example.net']);
#   "resolver 127.0.0.1:" . $dns->port . ";"

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;

sub new {
    my ($class, %opt) = @_;
    my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0)
        or die "udp socket: $!";
    my $self = bless { port => $s->sockport, names => $opt{names} // {},
                       silent => { map { lc($_) => 1 } @{ $opt{silent} // [] } },
                       dir => tempdir('dns-XXXXXX', TMPDIR => 1, CLEANUP => 1) }, $class;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $self->_serve($s);
        exit 0;
    }
    close $s;
    $self->{pid} = $pid;
    return $self;
}

sub port { $_[0]{port} }

# The names asked for so far, in order.
sub queries {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/queries" or return [];
    chomp(my @q = <$fh>);
    return \@q;
}

sub _serve {
    my ($self, $s) = @_;
    while (1) {
        my $peer = $s->recv(my $q, 512) // next;
        next if length $q < 17;
        my ($id, $flags, $qd) = unpack 'n n n', $q;
        next if $qd != 1;
        my ($pos, @labels) = (12);
        while ($pos < length $q) {
            my $n = ord substr($q, $pos, 1);
            $pos++;
            last if $n == 0;
            push @labels, substr($q, $pos, $n);
            $pos += $n;
        }
        next if $pos + 4 > length $q;
        my ($type) = unpack 'n', substr($q, $pos, 2);
        my $question = substr($q, 12, $pos + 4 - 12);
        my $name = lc join '.', @labels;

        open my $log, '>>', "$self->{dir}/queries" or die;
        print $log "$name\n";
        close $log;

        next if $self->{silent}{$name};

        my $addrs = $self->{names}{$name};
        my @answers = ($addrs && $type == 1) ? @$addrs : ();
        my $rcode = $addrs ? 0 : 3;
        my $res = pack('n n n n n n', $id, 0x8180 | $rcode, 1, scalar @answers, 0, 0) . $question;
        for my $a (@answers) {
            $res .= pack('n n n N n', 0xc00c, 1, 1, 1, 4) . pack('C4', split /\./, $a);
        }
        $s->send($res, 0, $peer);
    }
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub DESTROY { $_[0]->stop }

1;
