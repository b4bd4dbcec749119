// keeps allocating until the heap (sized from the memory limit) is exhausted
import java.util.ArrayList;
import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long a = in.nextLong(), b = in.nextLong();
        ArrayList<long[]> hoard = new ArrayList<>();
        for (int i = 0; i < 4096; i++) hoard.add(new long[1 << 17]);
        System.out.println(a + b + hoard.size() - 4096);
    }
}
