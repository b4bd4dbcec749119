// reads past the end of an array: an uncaught exception
public class Main {
    public static void main(String[] args) {
        java.util.Scanner in = new java.util.Scanner(System.in);
        long[] v = {in.nextLong(), in.nextLong()};
        System.out.println(v[0] + v[2]);
    }
}
