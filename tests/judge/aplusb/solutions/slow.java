// the right answer, after far too long
public class Main {
    public static void main(String[] args) {
        java.util.Scanner in = new java.util.Scanner(System.in);
        long a = in.nextLong(), b = in.nextLong();
        long n = 0;
        while (n >= 0) n++;
        System.out.println(a + b + n - n);
    }
}
